"""The only package that imports SpiffWorkflow: parse and validate, compile a process package (its diagrams,
forms and service.toml, whose schema is service_info), run, serialize, diff versions, restricted scripts."""
