"""HTTP surfaces: one package per API, each exporting its ``SURFACE``
(``caja.api.surface.Surface``): its base paths, credential, error answers and routes."""
