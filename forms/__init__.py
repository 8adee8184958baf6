"""JSON Schema forms, the one home of them for the engine and the pages alike.

``schema`` loads and checks a form; ``validation`` checks submitted data, one problem per field, with its
labels in both languages; ``digits`` reads Arabic-Indic digits; ``ownership`` says which fields a step may
write; ``fields`` turns a schema into page fields and a page's post back into data, with the per-field
messages, labels and the citizen's fields in the reader's language. This package imports neither the engine
nor a face: they import it.
"""
