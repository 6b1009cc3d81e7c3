"""The validation engine: read, parse, check under the policy, repair, report."""
