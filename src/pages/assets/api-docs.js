// Starts Swagger UI on the API reference page (`/api/v1/docs`). A file of its own, not an inline
// script, so that the page's policy can stay `script-src 'self'`.
(function () {
  "use strict";
  var root = document.getElementById("api-docs");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    domNode: root,
    // The reference describes the API; calls are made with a tenant's key, not from here.
    supportedSubmitMethods: [],
    // Swagger UI would otherwise send the document to validator.swagger.io.
    validatorUrl: null,
    deepLinking: false,
    defaultModelsExpandDepth: 0,
  });
})();
