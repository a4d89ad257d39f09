"""The local photo store (the default STORAGE_BACKEND): Django's FileSystemStorage, except that a
file written in part is removed rather than left behind. Django's writes the file under its final
name as it goes, so a disk that fills up (or an I/O error) midway left a truncated photo that no
row names; the save raises all the same, and the request answers 503 (records/unavailable.py)."""

from django.core.files.storage import FileSystemStorage


class PhotoStorage(FileSystemStorage):
    def _save(self, name, content):
        # Only a file this save created is removed: Django opens it with O_EXCL, so a name that did
        # not exist before is ours alone (another name is taken when it did).
        existed = self.exists(name)
        try:
            return super()._save(name, content)
        except OSError:
            if not existed:
                self.delete(name)
            raise
