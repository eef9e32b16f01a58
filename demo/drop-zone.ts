/**
 * Turns what the user gives us (a dropped folder or files, a folder picker, a file picker) into a
 * flat File[] for the library. Every File carries its path inside the selection as
 * `webkitRelativePath`, which the library uses to prefer top-level files over same-named ones in
 * sub-folders (a sentence-transformers folder has both config.json and 1_Pooling/config.json).
 */

type FileWithPath = File & { readonly webkitRelativePath: string };

/** Folders never holding model files, and possibly holding thousands of files (a git clone). */
const SKIPPED_FOLDERS = /^\./;

/**
 * Files from a drop. DataTransfer items are only readable during the drop event, so the entries are
 * taken synchronously here and walked afterwards.
 */
export function filesFromDrop(data: DataTransfer): Promise<File[]> {
  const entries: FileSystemEntry[] = [];
  const loose: File[] = [];
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push(f);
    }
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(data.files ?? []));
  return (async () => {
    const out = [...loose];
    for (const e of entries) await walk(e, '', out);
    return out;
  })();
}

/** Files of an <input type=file> (with or without webkitdirectory: the browser sets the paths). */
export function filesFromInput(input: HTMLInputElement): File[] {
  return Array.from(input.files ?? []);
}

async function walk(entry: FileSystemEntry, prefix: string, out: File[]): Promise<void> {
  const path = prefix + entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push(withPath(file, path));
  } else if (entry.isDirectory && !(prefix && SKIPPED_FOLDERS.test(entry.name))) {
    for (const child of await readAll(entry as FileSystemDirectoryEntry)) await walk(child, `${path}/`, out);
  }
}

/** readEntries returns a directory in batches (100 in Chromium) until an empty one. */
async function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

/** Files from entries have an empty webkitRelativePath; give them their path within the drop. */
function withPath(file: File, path: string): FileWithPath {
  if (file.webkitRelativePath) return file as FileWithPath;
  Object.defineProperty(file, 'webkitRelativePath', { value: path, configurable: true });
  return file as FileWithPath;
}

/** Wires a drop target: highlight while dragging over it, hand the files to `onFiles` on drop. */
export function wireDropZone(zone: HTMLElement, onFiles: (files: Promise<File[]>) => void): void {
  let depth = 0; // dragenter/dragleave fire for every child; count them to know when we really left
  zone.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    zone.classList.add('over');
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault(); // without this the browser would open the dropped file instead
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      zone.classList.remove('over');
    }
  });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove('over');
    if (e.dataTransfer) onFiles(filesFromDrop(e.dataTransfer));
  });
  // A file dropped next to the zone must not navigate away from the page (and lose the models).
  for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (e) => e.preventDefault());
}
