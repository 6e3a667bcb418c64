/* /docs: Swagger UI (served from /static/vendor/swagger-ui, installed from npm at set-up) on this
 * service's OpenAPI document. A script file, not an inline script, so the page's CSP needs no
 * 'unsafe-inline'. */
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
  document.body.setAttribute("data-ready", "1");
})();
