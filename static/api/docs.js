/* Starts Swagger UI on the schema this service serves. A static file: the CSP allows no inline script. */
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    // No third-party request: the default would send the schema to an online validator.
    validatorUrl: null,
  });
})();
