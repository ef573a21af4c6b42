// Runs Python scripts on the real MicroPython (WebAssembly build) under node.
// stdin: {"files": {"/abs/path.py": "source", ...}, "path": ["/lib"], "scripts": [[name, source], ...]}
// stdout: one JSON object per script: {"name": ..., "out": "<printed text>", "error": null | "<traceback>"}
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));

let out = [];
const mp = await loadMicroPython({ stdout: (line) => out.push(line), linebuffer: true });

function mkdirs(path) {
  let dir = "";
  for (const part of path.split("/").slice(1, -1)) {
    dir += "/" + part;
    try { mp.FS.mkdir(dir); } catch (e) { /* exists */ }
  }
}
for (const [path, text] of Object.entries(job.files)) {
  mkdirs(path);
  mp.FS.writeFile(path, text);
}
mp.runPython("import sys\n" + job.path.map((p) => "sys.path.append(" + JSON.stringify(p) + ")").join("\n"));
for (const [name, source] of job.scripts) {
  out = [];
  let error = null;
  try {
    mp.runPython(source);
  } catch (e) {
    error = String(e.message || e);
  }
  process.stdout.write(JSON.stringify({ name, out: out.map((l) => l + "\n").join(""), error }) + "\n");
}
