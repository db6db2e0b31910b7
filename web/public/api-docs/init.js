// Starts Swagger UI on the page the server answers at /api/docs/ (host/api/src/openapi.rs).
// swagger-ui-bundle.js next to this file comes from the npm package swagger-ui-dist, copied
// here by the build (vite.config.ts), so the page needs no internet.
(function () {
  var root = document.getElementById('swagger-ui')
  var spec = (root && root.getAttribute('data-spec')) || '/api/docs/?format=openapi'
  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'))
    return m ? decodeURIComponent(m[1]) : ''
  }
  window.ui = window.SwaggerUIBundle({
    url: spec,
    dom_id: '#swagger-ui',
    deepLinking: true,
    // A box that narrows the list by tag (JumpServer app): there are hundreds of operations.
    filter: true,
    // No badge from validator.swagger.io: the page must not reach the internet.
    validatorUrl: null,
    // "Try it out" from a signed-in browser goes with the session cookie; unsafe methods also
    // need the CSRF header, as the web UI sends it.
    requestInterceptor: function (req) {
      var method = (req.method || 'GET').toUpperCase()
      var token = cookie('jms_csrftoken')
      if (token && ['GET', 'HEAD', 'OPTIONS'].indexOf(method) < 0) {
        req.headers['X-CSRFToken'] = token
      }
      return req
    },
  })
})()
