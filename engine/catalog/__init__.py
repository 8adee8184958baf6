"""What can run: processes, their immutable versions, drafts, packages, deploy checks and the analysts' own
tests. (The schema of service.toml is engine/bpmn/service_info.py: the compiler reads it with the diagrams.)"""
