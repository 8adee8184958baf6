"""The only package that imports SpiffWorkflow: parse and validate, run, serialize, restricted scripts."""
