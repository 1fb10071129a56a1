"""The OpenAPI description of /v1 (drf-spectacular), by what each part holds: `hooks` (the schema
class and hooks settings name), `components`, `headers`, `operations` (the image operations'
decorators) and `examples` (the prose and example bodies, which the /docs page shares)."""
