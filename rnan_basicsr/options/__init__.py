"""Option files: YAML rules, loading, --force_yml, the declared schema and the cross-field rules."""
