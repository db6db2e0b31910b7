"""{{display_name}}: a Portcullis web autofill planner in Python (componentize-py)."""
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.autofill_planner import CredentialPart, FillSecret, Step_FillCredential, Step_Submit
from wit_world.imports.types import PluginError_NotFound, PluginInfo


class AutofillPlanner(exports.AutofillPlanner):
    def describe(self) -> PluginInfo:
        return PluginInfo(id="{{id}}", version="0.1.0", display_name="{{display_name}}", features=[])

    def plan(self, page) -> list:
        password = next((f for f in page.fields if f.kind == "password"), None)
        if password is None:
            raise Err(PluginError_NotFound(f"{page.url} has no password field"))
        steps = []
        user = next((f for f in page.fields if f.kind in ("text", "email")), None)
        if user is not None:
            steps.append(Step_FillCredential(FillSecret(selector=user.selector, part=CredentialPart.USERNAME)))
        steps.append(Step_FillCredential(FillSecret(selector=password.selector, part=CredentialPart.PASSWORD)))
        steps.append(Step_Submit(password.selector))
        return steps
