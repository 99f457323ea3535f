// Loads every entry point of the package in plain Node and names what each exports.
const entries = ['flux-edit-pipeline', 'flux-edit-pipeline/client', 'flux-edit-pipeline/webhooks'];
const exported = {};
for (const entry of entries) exported[entry] = Object.keys(await import(entry)).sort();
console.log(JSON.stringify({ node: process.version, exported }));
