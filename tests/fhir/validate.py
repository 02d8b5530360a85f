"""Validates FHIR JSON files with an independent model library: Python's fhir.resources
(its R4B models; R4B changed none of the resources Homeward serves). Each file must parse
into the model of its resourceType: every element known to FHIR (unknown ones are refused),
of the right type and cardinality, required elements present, dates and instants well formed.

Run by tests/it/fhir.rs: python validate.py FILE...; prints one line per file, exits 1 on
the first file that fails (with pydantic's explanation).
"""
import json
import sys

from fhir.resources.R4B import construct_fhir_element


def main(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        kind = data.get("resourceType")
        try:
            resource = construct_fhir_element(kind, data)
        except Exception as e:  # pydantic's ValidationError, or an unknown resourceType
            print(f"INVALID {path} ({kind}):\n{e}")
            return 1
        # and it serialises back (every element round-trips through the model)
        again = json.loads(resource.json())
        if again.get("resourceType") != kind:
            print(f"INVALID {path}: resourceType lost on the round trip")
            return 1
        print(f"valid {path} ({kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
