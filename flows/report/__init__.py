"""The report: one view of a run rendered to Markdown, HTML and the terminal; plots; escaping."""
