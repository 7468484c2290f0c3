"""The ``igdscope`` command line (:mod:`.main`) and its text presenters. Never imports textual."""
