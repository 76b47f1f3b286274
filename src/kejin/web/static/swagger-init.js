// Starts Swagger UI on /docs. A file of its own, not an inline script, so the docs' content
// security policy can refuse every inline script (kejin.web.headers.DOCS_CSP).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
