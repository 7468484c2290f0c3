"""What generated parsers raise to leave an input to construct's interpreted parser, which then
decides (and reports any error with the field path). Anything else a generated parser raises is a
bug and is not caught."""


class Short(Exception):
    """A read past the end of the stream (construct's ``StreamError``)."""


class Bail(Exception):
    """A case left to the interpreted parser: a check that fails, a value not reproduced exactly."""
