"""Files as a browser or a client uploads them, for the API tests."""
from django.core.files.uploadedfile import SimpleUploadedFile


def png_upload(name: str = "a.png", size: int = 100) -> SimpleUploadedFile:
    """``size`` bytes that start as a PNG (its signature, then zeros): enough for the checks made before an image
    reaches a model; not an image any decoder reads."""
    return SimpleUploadedFile(name, b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8), content_type="image/png")
