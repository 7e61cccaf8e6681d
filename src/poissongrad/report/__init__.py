"""Figures, the method-rating table and the report, all made from stored rows."""
