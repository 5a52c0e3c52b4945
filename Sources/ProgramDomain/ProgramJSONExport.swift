// The domain's public API speaks JSONValue, JSONObject and JSONNumber (unknown keys, exact
// numbers): an app that imports ProgramDomain gets them without naming the JSON module.
@_exported import ProgramJSON
