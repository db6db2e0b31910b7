// Starts ReDoc on the page the server answers at /api/redoc/ (host/api/src/openapi.rs).
// redoc.standalone.js next to this file comes from the npm package redoc, copied here by the
// build (vite.config.ts), so the page needs no internet.
(function () {
  var root = document.getElementById('redoc')
  var spec = (root && root.getAttribute('data-spec')) || '/api/docs/?format=openapi'
  window.Redoc.init(
    spec,
    {
      // The successful answers open by default: they show the resource's fields.
      expandResponses: '200,201',
      // Hundreds of operations: the menu shows the apps, folded.
      sortTagsAlphabetically: true,
    },
    root,
  )
})()
