"""JSON Schema forms: validate submitted data and describe fields in Arabic and English."""
