"""nbconvert settings of the student release (``make student``): solution cells removed, every output cleared.

As in nbgrader, solutions live in the committed notebooks in cells tagged ``solution``; the release is built with
nbconvert's own preprocessors, never by editing notebooks by hand. The committed notebooks stay the instructor
version that nbval checks.
"""

c = get_config()  # noqa: F821 - nbconvert passes the config object to this file
c.NbConvertApp.export_format = "notebook"
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {"solution"}
c.ClearOutputPreprocessor.enabled = True
# An executed notebook's metadata holds the widgets' saved state (tens of kB) and each cell's run times; keep only
# what a kernel needs to start, and the cells' tags ("exercise").
c.ClearMetadataPreprocessor.enabled = True
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {"kernelspec", ("language_info", "name")}
c.ClearMetadataPreprocessor.preserve_cell_metadata_mask = {"tags"}
