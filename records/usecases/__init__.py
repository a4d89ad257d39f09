"""The one way in: what the API, the pages, the admin, the management commands and the jobs do
with people and photos goes through these use cases, never to the models or the vector store
directly.

- `enrolment`: enrol a person (`Enrolled`), add a photo of someone (`PhotoAdded`).
- `matching`: who is in a photo (`Match`, `EveryFaceMatch`).
- `sightings`: who is in a camera's frames, reported once per appearance (the live page, streams).
- `verification`: 1:1, is this that person (`Verification`).
- `people`: add a person without a photo (the admin), change, move or erase someone.
- `collections`: create or delete a collection.
- `photos`: serve a photo or its face thumbnail (each read audited), remove a photo.
- `merging`: merge a record into another (the admin's Possible duplicates page).
- `health`: what /health and the home page report of the database, the index and the gallery.
- `analysis`: reading and analysing an uploaded photo, the first step of each.

tests/core/test_one_way_in.py holds the rule: no interface imports the pipeline or the vector
store, or writes a person, photo or face vector, but through these.

Results are frozen dataclasses and refusals are domain errors (`errors`; recognition's for the
photo itself): none knows HTTP. The API answers each error with its status in one place
(records/api/exceptions.py) and its serializers render the results; the pages show the same
objects; the audit events are written here, from them.
"""
