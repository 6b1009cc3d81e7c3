"""Stage validate: read the file, infer roles and the grid, check the rules, repair, quarantine."""
