"""``python -m mereo.prompts``: rewrite plan.schema.json from the Plan model."""

from mereo.prompts import write_plan_schema

if __name__ == "__main__":
    print(write_plan_schema())
