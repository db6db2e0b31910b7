// {{display_name}}: a Portcullis web autofill planner in JavaScript (componentize-js).
export const autofillPlanner = {
  describe() {
    return { id: '{{id}}', version: '0.1.0', displayName: '{{display_name}}', features: [] };
  },

  plan(page) {
    const password = page.fields.find((f) => f.kind === 'password');
    if (!password) throw { tag: 'not-found', val: `${page.url} has no password field` };
    const steps = [];
    const user = page.fields.find((f) => f.kind === 'text' || f.kind === 'email');
    if (user) steps.push({ tag: 'fill-credential', val: { selector: user.selector, part: 'username' } });
    steps.push({ tag: 'fill-credential', val: { selector: password.selector, part: 'password' } });
    steps.push({ tag: 'submit', val: password.selector });
    return steps;
  },
};
