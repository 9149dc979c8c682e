"""The formula language (units-checked), its enumeration, and everything done to formulas."""
