"""``igdscope plan --vm``: amend an existing VM definition so that one mode passes check, changing
only what that needs and leaving the rest of the text alone.

The target comes from :func:`igdscope.analysis.plan.plan` for the mode (with the VM's own firmware
and ROM): the machine family, the IGD at guest 00:02.0 on the root bus and the properties that
decide the mode. Everything else is changed only when check names it: a failing rule of the mode
(``vm.slot``, ``vm.gms``, ``qemu.opregion``, ``pve.legacy_igd``, ``qemu.machine_version``, ...) or a
caution (``vm.windows_address``). After each round the amended text is read back with the same
reader and judged by :func:`igdscope.analysis.check.run_checks`; the result carries that verdict,
so a change set that does not make the mode pass says so with the rules that still fail.

Three editors, one per format, each working on the format's own text:

* QEMU command line: the argument list (shell words after quotes and variables), edited per
  argument; the amended form is one command line (``shlex.join``).
* libvirt XML: text edits of the ``<os><type machine=>``, the IGD ``<hostdev>`` (source function,
  guest ``<address>``, ``<rom>``), ``<qemu:override>`` / ``<qemu:commandline>`` properties and the
  primary ``<video>`` model, keeping every other byte.
* Proxmox config: ``key: value`` lines of the current config (snapshot sections untouched), with
  the IGD's ``x-igd-*`` properties as ``-set device.hostpciN.*`` in ``args:``; also as ``qm set``.

Pure: text in, text out; no I/O.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from igdscope.analysis import check, qemu, vmconfig
from igdscope.analysis import plan as P
from igdscope.capture import Capture
from igdscope.decode.vmtext import PVE_KEY, QEMU_BIN

KINDS = ("qemu", "libvirt", "proxmox")
ROOT_BUS = {"i440fx": "pci.0", "q35": "pcie.0"}
MAX_ROUNDS = 4


@dataclass(frozen=True)
class Change:
    """One change: what (``machine``, ``address``, ``host``, ``vga``, a property name ...), the old
    and new text as written in the config (None: absent), why, and the check rules it fixes."""

    what: str
    old: str | None
    new: str | None
    why: str
    rules: tuple[str, ...] = ()

    def plain(self) -> dict[str, Any]:
        return {"what": self.what, "old": self.old, "new": self.new, "why": self.why, "rules": list(self.rules)}


@dataclass(frozen=True)
class Amendment:
    kind: str  # qemu, libvirt, proxmox
    mode: str
    asked: str | None  # the mode the original config asks for (check.requested_mode)
    plan: P.Plan
    original: str
    amended: str
    changes: tuple[Change, ...]
    before: dict[str, Any]  # check's verdict for the mode on the original
    after: dict[str, Any]  # ... and on the amended text
    after_mode: str | None  # the mode the amended config asks for
    failing: tuple[dict[str, Any], ...] = ()  # rules that still fail for the mode (plain)
    notes: tuple[str, ...] = ()
    words_before: tuple[str, ...] = ()  # QEMU: the argument lists
    words_after: tuple[str, ...] = ()
    qm_set: tuple[str, ...] = ()  # Proxmox: qm set commands for the changes (VMID placeholder)
    named: tuple[str, ...] = ()  # the rules check named for the mode (failing or caution) on the way

    @property
    def feasible(self) -> bool:
        return self.plan.feasible

    @property
    def passes(self) -> bool:
        return self.plan.feasible and self.after["verdict"] != "fails" and self.after_mode == self.mode

    def diff(self) -> str:
        if self.kind == "qemu":
            a, b = [*self.words_before], [*self.words_after]
            name = "arguments"
        else:
            a, b = self.original.splitlines(), self.amended.splitlines()
            name = "config"
        return "\n".join(difflib.unified_diff(a, b, f"{name} (now)", f"{name} (amended)", lineterm="", n=2)) + "\n" if a != b else ""

    def plain(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "mode": self.mode, "asked": self.asked, "feasible": self.feasible, "passes": self.passes,
            "changes": [c.plain() for c in self.changes],
            "before": self.before, "after": self.after, "after_mode": self.after_mode,
            "failing": list(self.failing), "notes": list(self.notes),
            "possible": list(self.plan.possible) if not self.plan.feasible else [],
            "plan_failing": list(self.plan.failing) if not self.plan.feasible else [],
            "diff": self.diff(), "amended": self.amended if self.changes else None,
            "qm_set": list(self.qm_set),
        }


def read(kind: str, text: str, bare: bool = False) -> vmconfig.VmConfig:
    if kind == "qemu":
        return vmconfig.parse_qemu_cmdline(text, bare_args=bare)
    if kind == "libvirt":
        return vmconfig.parse_libvirt(text)
    return vmconfig.parse_proxmox(text)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int):
        return f"{v:#x}"
    return str(v)


def _machine_type(current: str | None, family: str) -> str:
    """``current`` turned into ``family``, keeping a version: pc-q35-9.2 -> pc-i440fx-9.2."""
    cur = current or ""
    if family == "i440fx":
        m = re.fullmatch(r"pc-q35-(.+)", cur)
        return f"pc-i440fx-{m[1]}" if m else "pc"
    m = re.fullmatch(r"pc-(?:i440fx-)?(\d.*)", cur)
    return f"pc-q35-{m[1]}" if m else "q35"


def _alias(family: str | None) -> str:
    return "q35" if family == "q35" else "pc"


# -- QEMU argument lists ---------------------------------------------------------------------------


def _kv_split(s: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(s):
        if s[i] == ",":
            if s[i + 1:i + 2] == ",":
                cur.append(",,")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(s[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _kv_set(arg: str, key: str, value: str | None) -> str:
    parts = _kv_split(arg)
    out, done = [], False
    for idx, p in enumerate(parts):
        k = p.split("=", 1)[0] if "=" in p else (None if idx == 0 else p)
        if k == key:
            if value is not None and not done:
                out.append(f"{key}={value}")
                done = True
            continue
        out.append(p)
    if value is not None and not done:
        out.append(f"{key}={value}")
    return ",".join(out)


def _json_value(key: str, value: str) -> Any:
    if key in ("x-igd-opregion", "x-vga", "x-igd-lpc"):
        return value == "on"
    if key in ("x-igd-gms", "rombar"):
        return int(value, 0)
    return value


class QemuWords:
    """A QEMU argument list with the IGD's -device (or only its id, for -set) to edit."""

    def __init__(self, words: list[str], dev_id: str | None = None) -> None:
        self.words = list(words)
        self.dev_id = dev_id
        self.dev = self._find_igd()
        if self.dev is not None and self.dev_id is None:
            self.dev_id = self._props(self.words[self.dev]).get("id")

    @staticmethod
    def _props(arg: str) -> dict[str, Any]:
        if arg.lstrip().startswith("{"):
            try:
                obj = json.loads(arg)
            except ValueError:
                return {}
            return obj if isinstance(obj, dict) else {}
        return vmconfig.parse_keyval(arg, "driver")[0]

    def _find_igd(self) -> int | None:
        for i in range(1, len(self.words)):
            if self.words[i - 1] in ("-device", "--device"):
                p = self._props(self.words[i])
                host = vmconfig.normalise_host(str(p.get("host", "")))
                if p.get("driver") in vmconfig.VFIO_DRIVERS and host and host[0].startswith("0000:00:02."):
                    return i
        return None

    def _sets(self, key: str) -> list[int]:
        if self.dev_id is None:
            return []
        pre = f"device.{self.dev_id}.{key}="
        return [i for i in range(1, len(self.words)) if self.words[i - 1] in ("-set", "--set") and self.words[i].startswith(pre)]

    def get(self, key: str) -> str | None:
        sets = self._sets(key)
        if sets:
            return self.words[sets[-1]].split("=", 1)[1]
        if self.dev is not None:
            v = self._props(self.words[self.dev]).get(key)
            return None if v is None else (_fmt(v) if not isinstance(v, str) else v)
        return None

    def set(self, key: str, value: str | None) -> None:
        sets = self._sets(key)
        if value is None:
            for i in reversed(sets):
                del self.words[i - 1:i + 1]
                if self.dev is not None and i < self.dev:
                    self.dev -= 2
        elif sets:
            self.words[sets[-1]] = f"device.{self.dev_id}.{key}={value}"
            for i in reversed(sets[:-1]):
                del self.words[i - 1:i + 1]
            return
        if self.dev is None:
            if value is not None and self.dev_id is not None:
                self.words += ["-set", f"device.{self.dev_id}.{key}={value}"]
            return
        arg = self.words[self.dev]
        if arg.lstrip().startswith("{"):
            obj = json.loads(arg)
            if value is None:
                obj.pop(key, None)
            else:
                obj[key] = _json_value(key, value)
            self.words[self.dev] = json.dumps(obj, separators=(",", ":"))
        else:
            self.words[self.dev] = _kv_set(arg, key, value)

    def option(self, names: tuple[str, ...]) -> int | None:
        idx = [i for i in range(1, len(self.words)) if self.words[i - 1] in names]
        return idx[-1] if idx else None

    def set_option(self, names: tuple[str, ...], value: str, front: bool = False) -> str | None:
        i = self.option(names)
        if i is None:
            if front:
                self.words[0:0] = [names[0], value]
                if self.dev is not None:
                    self.dev += 2
            else:
                self.words += [names[0], value]
            return None
        old = self.words[i]
        self.words[i] = value
        return old


def qemu_words(text: str) -> tuple[str | None, list[str]]:
    """The QEMU binary (None: a fragment) and the option words of a command line, script or
    fragment, as igdscope's reader sees them (quotes removed, variables expanded)."""
    b = vmconfig._Builder("qemu")
    body, echoes = vmconfig._echo_lines(vmconfig._text(text, "QEMU command line"), b)
    cmds, _ = vmconfig._shell_commands(body, echoes)
    env = vmconfig._Env()
    binary: str | None = None
    words: list[str] = []
    for c in cmds:
        if c.kind == "echo":
            if c.echo:
                words += list(c.echo)
            continue
        if c.kind == "array":
            vals = [env.expand(w) for w in c.words[1:]]
            if any(v.startswith("-") for v in vals):
                words += vals
            continue
        ws = c.words
        i = 0
        if ws and ws[0] in ("export", "declare", "local", "readonly", "typeset"):
            i = 1
            while i < len(ws) and ws[i].startswith("-"):
                i += 1
        while i < len(ws):
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", ws[i], re.DOTALL)
            if not m:
                break
            env.vars[m[1]] = env.expand(m[2])
            i += 1
        exp = [env.expand(w) for w in ws[i:]]
        for j, w in enumerate(exp):
            if QEMU_BIN.match(w):
                binary = binary or w
                words += [x for x in exp[j + 1:] if not x.startswith("${")]
                break
        else:
            if exp and exp[0].startswith("-"):
                words += exp
    return binary, words


# -- the editors -----------------------------------------------------------------------------------


class _Editor:
    kind = ""

    def __init__(self, text: str, bare: bool) -> None:
        self.text = text
        self.bare = bare
        self.changes: list[Change] = []
        self.notes: list[str] = []

    def record(self, what: str, old: Any, new: Any, why: str, rules: tuple[str, ...] = ()) -> None:
        old_s = None if old is None else str(old)
        new_s = None if new is None else str(new)
        if old_s == new_s:
            return
        last = self.changes[-1] if self.changes else None
        if last is not None and last.what == what and last.new == old_s:
            merged_why = last.why if why in last.why else f"{last.why}; {why}"
            self.changes[-1] = Change(what, last.old, new_s, merged_why, tuple(dict.fromkeys(last.rules + rules)))
            return
        self.changes.append(Change(what, old_s, new_s, why, rules))

    def render(self) -> str:
        return self.text


class QemuEditor(_Editor):
    kind = "qemu"

    def __init__(self, text: str, bare: bool) -> None:
        super().__init__(text, bare)
        self.binary, words = qemu_words(text)
        self.before = list(words)
        self.q = QemuWords(words)
        self.dirty = False

    def render(self) -> str:
        if not self.dirty:
            return self.text
        return shlex.join(([self.binary] if self.binary else []) + self.q.words)

    def machine(self, family: str, why: str, rules: tuple[str, ...], alias: bool = False) -> None:
        names = ("-machine", "-M", "--machine")
        found = [k for k in range(1, len(self.q.words)) if self.q.words[k - 1] in names]
        typed = [k for k in found if "=" not in _kv_split(self.q.words[k])[0] or "type=" in self.q.words[k]]
        i = (typed or found or [None])[-1]
        cur = None
        if i is not None:
            parts = _kv_split(self.q.words[i])
            ti = 0 if parts and "=" not in parts[0] else next((k for k, x in enumerate(parts) if x.startswith("type=")), None)
            cur = parts[ti].split("=", 1)[-1] if ti is not None else None
            new = _alias(family) if alias else _machine_type(cur, family)
            if ti is None:
                parts.insert(0, new)
            else:
                parts[ti] = new if ti == 0 and "=" not in parts[0] else f"type={new}"
            old = self.q.words[i]
            self.q.words[i] = ",".join(parts)
            self.record("-machine", old, self.q.words[i], why, rules)
        else:
            self.q.set_option(("-machine",), _alias(family), front=True)
            self.record("-machine", None, _alias(family), why, rules)
        self.dirty = True

    def prop(self, key: str, value: str | None, why: str, rules: tuple[str, ...] = ()) -> None:
        old = self.q.get(key)
        if old == value:
            return
        self.q.set(key, value)
        self.record(key, None if old is None else f"{key}={old}", None if value is None else f"{key}={value}", why, rules)
        self.dirty = True

    def address(self, family: str, why: str, rules: tuple[str, ...]) -> None:
        self.prop("bus", ROOT_BUS[family], why, rules)
        self.prop("addr", "0x2", why, rules)

    def host(self, why: str, rules: tuple[str, ...]) -> None:
        self.prop("host", "0000:00:02.0", why, rules)

    def vga_none(self, why: str, rules: tuple[str, ...]) -> None:
        old = self.q.set_option(("-vga",), "none")
        self.record("-vga", old, "none", why, rules)
        self.dirty = True

    def nodefaults(self, why: str, rules: tuple[str, ...]) -> None:
        if "-nodefaults" not in self.q.words:
            self.q.words.append("-nodefaults")
            self.record("-nodefaults", None, "-nodefaults", why, rules)
            self.dirty = True

    def legacy_igd(self, on: bool, why: str, rules: tuple[str, ...]) -> bool:
        return False

    def romfile(self, path: str, why: str, rules: tuple[str, ...]) -> None:
        self.prop("romfile", path, why, rules)


class ProxmoxEditor(_Editor):
    kind = "proxmox"

    def __init__(self, text: str, bare: bool) -> None:
        super().__init__(text, bare)
        self.lines = text.split("\n")
        self.end = next((i for i, ln in enumerate(self.lines) if re.fullmatch(r"\s*\[[^\]]+\]\s*", ln)), len(self.lines))
        vm = vmconfig.parse_proxmox(text)
        vi = vm.igd
        pve_id = vi.id if vi is not None and vi.id and re.fullmatch(r"hostpci\d+", vi.id) else None
        self.key = pve_id if pve_id is not None and self.get(pve_id) is not None else None
        try:
            words = shlex.split(self.get("args") or "")
        except ValueError:
            words = (self.get("args") or "").split()
        self.args = QemuWords(words, pve_id)
        self.qm: dict[str, str | None] = {}

    def _line(self, key: str) -> int | None:
        idx = None
        for i in range(self.end):
            m = PVE_KEY.match(self.lines[i].strip())
            if m and m[1] == key:
                idx = i
        return idx

    def _effective(self) -> dict[str, str]:
        """The current config's values, key lines and qm set/create commands in order."""
        conf: dict[str, str] = {}
        i = 0
        while i < self.end:
            ln = re.sub(r"^[\w.-]+@[\w.-]+:\S*[#$]\s+", "", self.lines[i].strip())
            i += 1
            if ln.startswith("qm "):
                while ln.endswith("\\") and i < self.end:
                    ln = ln[:-1] + " " + self.lines[i].strip()
                    i += 1
                try:
                    words = shlex.split(ln)
                except ValueError:
                    continue
                k = 3
                while k + 1 < len(words) and words[1] in ("set", "create"):
                    key, val = words[k].lstrip("-"), words[k + 1]
                    if key == "delete":
                        for d in re.split(r"[,;\s]+", val):
                            conf.pop(d, None)
                    else:
                        conf[key] = val
                    k += 2
                continue
            m = PVE_KEY.match(ln)
            if m and not ln.startswith("#"):
                conf[m[1]] = m[2] or ""
        return conf

    def get(self, key: str) -> str | None:
        return self._effective().get(key)

    def put(self, key: str, value: str | None, why: str, rules: tuple[str, ...]) -> None:
        old = self.get(key)
        if old == value:
            return
        i = self._line(key)
        if value is None:
            if i is not None:
                del self.lines[i]
                self.end -= 1
            if self.get(key) is not None:
                self.notes.append(f"{key} is set by a qm command here: remove it with qm set VMID --delete {key}")
        elif i is not None and self._in_place(i, key, value):
            pass
        else:
            at = self.end
            while at > 0 and not self.lines[at - 1].strip():
                at -= 1
            self.lines.insert(at, f"{key}: {value}")
            self.end += 1
        self.qm[key] = value
        self.record(key, None if old is None else f"{key}: {old}", None if value is None else f"{key}: {value}", why, rules)

    def _in_place(self, i: int, key: str, value: str) -> bool:
        """Replace line ``i``, unless a later qm command sets the key again (then keep it)."""
        was = self.lines[i]
        self.lines[i] = f"{key}: {value}"
        if self.get(key) == value:
            return True
        self.lines[i] = was
        return False

    def render(self) -> str:
        return "\n".join(self.lines)

    def _sync_args(self, why: str, rules: tuple[str, ...]) -> None:
        words = self.args.words
        self.put("args", " ".join(shlex.quote(w) for w in words) if words else None, why, rules)

    def _hostpci(self) -> dict[str, str]:
        parts = (self.get(self.key) or "").split(",")
        out: dict[str, str] = {}
        for k, p in enumerate(parts):
            if "=" in p:
                a, b = p.split("=", 1)
                out[a] = b
            elif k == 0:
                out["host"] = p
            elif p:
                out[p] = ""
        return out

    def _hostpci_set(self, opt: str, value: str | None, why: str, rules: tuple[str, ...]) -> None:
        d = self._hostpci()
        if d.get(opt) == value:
            return
        if value is None:
            d.pop(opt, None)
        else:
            d[opt] = value
        host = d.pop("host", "")
        self.put(self.key, ",".join([host, *(f"{k}={v}" if v != "" else k for k, v in d.items())]), why, rules)

    def machine(self, family: str, why: str, rules: tuple[str, ...], alias: bool = False) -> None:
        cur = self.get("machine")
        head, _, tail = (cur or "").partition(",")
        new = _alias(family) if alias else _machine_type(head.removeprefix("type=") or None, family)
        self.put("machine", new + ("," + tail if tail else ""), why, rules)

    def prop(self, key: str, value: str | None, why: str, rules: tuple[str, ...] = ()) -> None:
        if self.key is not None and key in ("romfile", "rombar", "x-vga"):
            self._hostpci_set(key, value, why, rules)
            return
        if self.args.get(key) == value:
            return
        self.args.set(key, value)
        self._sync_args(why, rules)

    def address(self, family: str, why: str, rules: tuple[str, ...]) -> None:
        if self.key is not None and self._hostpci().get("legacy-igd") == "1":
            return  # Proxmox places a legacy-igd device at 00:02.0 itself
        self.prop("bus", ROOT_BUS[family], why, rules)
        self.prop("addr", "0x2", why, rules)

    def host(self, why: str, rules: tuple[str, ...]) -> None:
        if self.key is not None:
            d = self._hostpci()
            if d.get("host") != "0000:00:02.0":
                d["host"] = "0000:00:02.0"
                host = d.pop("host")
                self.put(self.key, ",".join([host, *(f"{k}={v}" if v != "" else k for k, v in d.items())]), why, rules)
        else:
            self.prop("host", "0000:00:02.0", why, rules)

    def vga_none(self, why: str, rules: tuple[str, ...]) -> None:
        self.put("vga", "none", why, rules)

    def nodefaults(self, why: str, rules: tuple[str, ...]) -> None:
        pass  # qemu-server always starts QEMU with -nodefaults

    def legacy_igd(self, on: bool, why: str, rules: tuple[str, ...]) -> bool:
        if self.key is None:
            return False
        if on and "pcie" in self._hostpci():
            self._hostpci_set("pcie", None, "pcie=1 needs q35 and a root port; legacy mode wants the IGD on i440fx's root bus", rules)
        self._hostpci_set("legacy-igd", "1" if on else None, why, rules)
        if not on and self._hostpci().get("pcie") is None and (self.get("machine") or "").find("q35") >= 0:
            self._hostpci_set("pcie", "1", "Proxmox puts a pcie=1 device on a PCIe root port of q35 (then moved by args:)", rules)
        return True

    def romfile(self, path: str, why: str, rules: tuple[str, ...]) -> None:
        if self.key is not None:
            self._hostpci_set("romfile", path.rsplit("/", 1)[-1], why + f" (Proxmox reads /usr/share/kvm/{path.rsplit('/', 1)[-1]})", rules)
        else:
            self.prop("romfile", path, why, rules)

    def qm_set(self, vmid: str = "VMID") -> list[str]:
        out = [f"qm set {vmid} --{k} {shlex.quote(v)}" for k, v in self.qm.items() if v is not None]
        gone = [k for k, v in self.qm.items() if v is None]
        if gone:
            out.append(f"qm set {vmid} --delete {','.join(gone)}")
        return out


_LV_HOSTDEV = re.compile(r"<hostdev\b[^>]*>.*?</hostdev>", re.DOTALL)


class LibvirtEditor(_Editor):
    kind = "libvirt"

    def __init__(self, text: str, bare: bool) -> None:
        super().__init__(text, bare)
        vm = vmconfig.parse_libvirt(text)
        self.alias = vm.igd.id if vm.igd is not None else None

    def _hostdev(self) -> re.Match[str] | None:
        for m in _LV_HOSTDEV.finditer(self.text):
            src = re.search(r"<source>\s*<address\b([^>]*)/>", m.group(), re.DOTALL)
            if src and re.search(r"""\bbus=(['"])0x0*0?\1""", src[1]) and re.search(r"""\bslot=(['"])0x0*2\1""", src[1]):
                return m
        return None

    def _replace(self, start: int, end: int, new: str, what: str, why: str, rules: tuple[str, ...]) -> None:
        old = self.text[start:end]
        if old == new:
            return
        self.text = self.text[:start] + new + self.text[end:]
        self.record(what, old.strip() or None, new.strip() or None, why, rules)

    def machine(self, family: str, why: str, rules: tuple[str, ...], alias: bool = False) -> None:
        m = re.search(r"""(<type\b[^>]*\bmachine=)(['"])(.*?)\2""", self.text)
        if m is None:
            self.notes.append(f"no <os><type machine=...> in this XML: the domain must use a {family} machine ({_alias(family)})")
            return
        new = _alias(family) if alias else _machine_type(m[3], family)
        self._replace(m.start(3), m.end(3), new, "<os><type machine>", why, rules)

    def _indent(self, at: int) -> str:
        line_start = self.text.rfind("\n", 0, at) + 1
        return re.match(r"[ \t]*", self.text[line_start:])[0]

    def address(self, family: str, why: str, rules: tuple[str, ...]) -> None:
        h = self._hostdev()
        if h is None:
            for key, val in (("bus", ROOT_BUS[family]), ("addr", "0x2")):
                self.prop(key, val, why, rules) if self._override_has(key) else None
            return
        block = h.group()
        src_end = block.find("</source>")
        ga = re.search(r"<address\b[^>]*\btype=(['\"])pci\1[^>]*/>", block[src_end:] if src_end >= 0 else block)
        q = "'" if "'" in block and '"' not in block else '"'
        new = f"<address type={q}pci{q} domain={q}0x0000{q} bus={q}0x00{q} slot={q}0x02{q} function={q}0x0{q}/>"
        if ga is not None:
            base = h.start() + (max(src_end, 0))
            self._replace(base + ga.start(), base + ga.end(), new, "<hostdev> guest <address>", why, rules)
        else:
            end = h.start() + block.rfind("</hostdev>")
            ind = self._indent(end) + "  "
            self._replace(end, end, f"  {new}\n{self._indent(end)}", "<hostdev> guest <address>", why, rules)
            _ = ind
        for key in ("bus", "addr"):
            if self._override_has(key):
                self.prop(key, None, why + " (the override would move it again)", rules)

    def host(self, why: str, rules: tuple[str, ...]) -> None:
        h = self._hostdev()
        if h is None:
            return
        src = re.search(r"(<source>\s*<address\b[^>]*\bfunction=)(['\"])(.*?)\2", h.group(), re.DOTALL)
        if src:
            self._replace(h.start() + src.start(3), h.start() + src.end(3), "0x0", "<hostdev> <source> function", why, rules)

    def _override_block(self) -> re.Match[str] | None:
        if self.alias is None:
            return None
        return re.search(r"<qemu:device\s+alias=(['\"])" + re.escape(self.alias) + r"\1\s*>.*?</qemu:device>", self.text, re.DOTALL)

    def _override_has(self, key: str) -> bool:
        b = self._override_block()
        return bool(b and re.search(r"<qemu:property\s+name=(['\"])" + re.escape(key) + r"\1", b.group()))

    def _cmdline_set(self, key: str) -> re.Match[str] | None:
        if self.alias is None:
            return None
        return re.search(r"(<qemu:arg\s+value=)(['\"])device\." + re.escape(self.alias) + r"\." + re.escape(key) + r"=(.*?)\2\s*/>", self.text)

    def get(self, key: str) -> str | None:
        b = self._override_block()
        if b is not None:
            m = re.search(r"<qemu:property\s+name=(['\"])" + re.escape(key) + r"\1[^>]*\bvalue=(['\"])(.*?)\2", b.group())
            if m:
                return m[3]
        s = self._cmdline_set(key)
        return s[3] if s else None

    def prop(self, key: str, value: str | None, why: str, rules: tuple[str, ...] = ()) -> None:
        if key == "romfile" and value is not None:
            self.romfile(value, why, rules)
            return
        s = self._cmdline_set(key)
        b = self._override_block()
        pm = re.search(r"[ \t]*<qemu:property\s+name=(['\"])" + re.escape(key) + r"\1[^>]*/>\n?", b.group()) if b else None
        if value is None:
            if pm is not None:
                self._replace(b.start() + pm.start(), b.start() + pm.end(), "", f"<qemu:property {key}>", why, rules)
            if s is not None:
                pair = re.search(r"[ \t]*<qemu:arg\s+value=(['\"])-set\1\s*/>\s*" + re.escape(s.group()) + r"\n?", self.text)
                if pair:
                    self._replace(pair.start(), pair.end(), "", f"<qemu:commandline> -set {key}", why, rules)
            return
        if isinstance(value, str) and value in ("on", "off") or key in ("x-igd-opregion", "x-vga", "x-igd-lpc"):
            typ, val = "bool", "true" if value == "on" else "false"
        elif key in ("x-igd-gms", "rombar"):
            typ, val = "unsigned", str(int(value, 0))
        else:
            typ, val = "string", value
        if s is not None and pm is None:
            self._replace(s.start(3), s.end(3), value, f"<qemu:commandline> -set {key}", why, rules)
            return
        line = f"<qemu:property name='{key}' type='{typ}' value='{val}'/>"
        if pm is not None:
            ind = re.match(r"[ \t]*", pm.group())[0]
            self._replace(b.start() + pm.start(), b.start() + pm.end(), ind + line + "\n", f"<qemu:property {key}>", why, rules)
            return
        if b is not None:
            fe = b.group().rfind("</qemu:frontend>")
            if fe >= 0:
                at = b.start() + fe
                ind = self._indent(at)
                self._replace(at, at, f"  {line}\n{ind}", f"<qemu:property {key}>", why, rules)
                return
        self._new_override(key, line, why, rules)

    def _new_override(self, key: str, line: str, why: str, rules: tuple[str, ...]) -> None:
        if self.alias is None or self._hostdev() is None:
            self.notes.append(f"{key}: no IGD <hostdev> with an alias here to attach a <qemu:override> to")
            return
        if not re.match(r"ua-", self.alias) and not re.fullmatch(r"hostdev\d+", self.alias):
            pass
        h = self._hostdev()
        if not re.search(r"<alias\b", h.group()):
            self.alias = "ua-igd"
            at = h.start() + h.group().rfind("</hostdev>")
            self._replace(at, at, f"  <alias name='ua-igd'/>\n{self._indent(at)}", "<hostdev> <alias>",
                          "a user alias (ua- prefix) so that <qemu:override> can name the IGD's -device", ())
        end = self.text.rfind("</domain>")
        if end < 0:  # a snippet: the override goes after it, for the domain's end
            end = len(self.text.rstrip("\n")) + 1 if self.text.endswith("\n") else len(self.text)
            self.notes.append(f"<qemu:override> added after the snippet: it belongs at the end of <domain> (which declares xmlns:qemu='{vmconfig.LIBVIRT_QEMU_NS}')")
        ns = "" if re.search(r"<domain\b[^>]*xmlns:qemu=", self.text) else f" xmlns:qemu='{vmconfig.LIBVIRT_QEMU_NS}'"
        block = (f"  <qemu:override{ns}>\n    <qemu:device alias='{self.alias}'>\n      <qemu:frontend>\n        {line}\n"
                 "      </qemu:frontend>\n    </qemu:device>\n  </qemu:override>\n")
        self._replace(end, end, block, f"<qemu:property {key}>", why, rules)

    def vga_none(self, why: str, rules: tuple[str, ...]) -> None:
        m = re.search(r"(<video>\s*<model\b[^>]*\btype=)(['\"])(.*?)\2", self.text, re.DOTALL)
        if m:
            self._replace(m.start(3), m.end(3), "none", "<video><model type>", why, rules)

    def nodefaults(self, why: str, rules: tuple[str, ...]) -> None:
        pass  # libvirt always starts QEMU with -nodefaults

    def legacy_igd(self, on: bool, why: str, rules: tuple[str, ...]) -> bool:
        return False

    def romfile(self, path: str, why: str, rules: tuple[str, ...]) -> None:
        h = self._hostdev()
        if h is None:
            return
        rom = re.search(r"<rom\b[^>]*/>", h.group())
        q = "'"
        if rom is None:
            at = h.start() + h.group().find("</source>") + len("</source>")
            self._replace(at, at, f"\n{self._indent(h.start())}  <rom file={q}{path}{q}/>", "<hostdev> <rom>", why, rules)
        else:
            new = re.sub(r"\s(file|enabled)=(['\"]).*?\2", "", rom.group())
            new = new[:-2].rstrip() + f" file={q}{path}{q}/>"
            self._replace(h.start() + rom.start(), h.start() + rom.end(), new, "<hostdev> <rom>", why, rules)


EDITORS = {"qemu": QemuEditor, "libvirt": LibvirtEditor, "proxmox": ProxmoxEditor}


# -- deciding the changes ----------------------------------------------------------------------------


def _verdict(r: dict[str, Any], mode: str) -> dict[str, Any]:
    return r["verdicts"][mode]


def _rules_by_id(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {x["id"]: x for x in r["rules"]}


def _why(p: P.Plan, key: str, default: str) -> tuple[str, tuple[str, ...]]:
    s = p.setting(key)
    return (s.why, s.rules) if s is not None else (default, ())


def _structural(ed: _Editor, vm: vmconfig.VmConfig, p: P.Plan, mode: str, have: set[str]) -> None:
    """The plan's settings that decide the mode and the IGD's place, where the VM differs."""
    vi = vm.igd
    family = {"pc": "i440fx", "q35": "q35"}[p.value("machine")]
    if vi.host and not vi.host.startswith("0000:00:02.0") and not vi.mdev:
        ed.host("the IGD is host function 00:02.0 (legacy mode and the OpRegion are for it only)", ("vm.igd", "vm.igd_function"))
    if vm.machine_family != family:
        why, rules = _why(p, "machine", "")
        ed.machine(family, why, rules)
    if mode == "legacy" and vm.source == "proxmox" and ed.legacy_igd(True, "Proxmox's legacy-igd=1 puts the IGD at guest 00:02.0 on pci.0 and keeps 00:1f.0 free for legacy mode", ("vm.address", "vm.1f0")):
        pass
    elif mode != "legacy" and vi.legacy_igd:
        ed.legacy_igd(False, "legacy-igd=1 asks Proxmox for legacy mode", ())
    if not (vi.guest_slot == 2 and (vi.guest_function or 0) == 0 and vi.on_root_bus) or (vi.legacy_igd and mode != "legacy"):
        why, rules = _why(p, "address", "")
        ed.address(family, why, rules)
    # the properties that decide the mode check reads the config as asking for
    if mode == "legacy":
        if vi.x_igd_legacy_mode == "off":
            ed.prop("x-igd-legacy-mode", "on" if "x-igd-legacy-mode" in have else None, "x-igd-legacy-mode=off keeps legacy mode off", ("vm.legacy_mode",))
    else:
        if vi.x_igd_legacy_mode == "on":
            ed.prop("x-igd-legacy-mode", None, "x-igd-legacy-mode=on asks for legacy mode", ())
        want = p.value("x-igd-opregion")
        if mode == "upt_opregion" and vi.x_igd_opregion is not True:
            ed.prop("x-igd-opregion", "on", *_why(p, "x-igd-opregion", "the guest driver reads the VBT from the OpRegion"))
        elif mode == "upt" and vi.x_igd_opregion is not False and (vi.x_igd_opregion or want == "off"):
            ed.prop("x-igd-opregion", want, *_why(p, "x-igd-opregion", "plain assignment: no OpRegion for the guest"))


def _by_check(ed: _Editor, vm: vmconfig.VmConfig, p: P.Plan, mode: str, r: dict[str, Any], rom: str | None, have: set[str]) -> None:
    """Changes for the rules check still names for the mode (failing, and the address caution)."""
    ver = _verdict(r, mode)
    bad = set(ver["failing"]) | set(ver.get("cautions", []))
    rules = _rules_by_id(r)
    vi = vm.igd
    family = {"pc": "i440fx", "q35": "q35"}[p.value("machine")]
    if "vm.slot" in bad:
        ev = rules["vm.slot"]["evidence"]
        if "QEMU default VGA" in ev or ("VGA" in ev and vm.source == "libvirt"):
            ed.vga_none(rules["vm.slot"]["evidence"].split(":")[0] + ": " + rules["vm.slot"]["fix"], ("vm.slot",))
        elif "QEMU default NIC" in ev:
            ed.nodefaults(ev.split(":")[0] + ": " + rules["vm.slot"]["fix"], ("vm.slot",))
    if "pve.legacy_igd" in bad:
        ev = rules["pve.legacy_igd"]["evidence"]
        if "vga:" in ev:
            ed.vga_none("qm start refuses legacy-igd unless vga: none", ("pve.legacy_igd",))
        if "rombar=0" in ev:
            ed.prop("rombar", None, "qm start refuses legacy-igd with rombar=0", ("pve.legacy_igd",))
        if "x-vga" in ev:
            ed.prop("x-vga", None, "qm start refuses legacy-igd with x-vga", ("pve.legacy_igd",))
    if "qemu.machine_version" in bad:
        ed.machine(vm.machine_family or family, rules["qemu.machine_version"]["fix"], ("qemu.machine_version",), alias=True)
    if bad & {"vm.gms", "qemu.gms"}:
        want = p.value("x-igd-gms")
        ed.prop("x-igd-gms", None if want is None else f"{want:#x}", *_why(p, "x-igd-gms", "x-igd-gms out of range for this QEMU"))
    if bad & {"vm.opregion", "qemu.opregion"} and mode != "upt" and "x-igd-opregion" in have:
        ed.prop("x-igd-opregion", "on", *_why(p, "x-igd-opregion", "the guest gets the OpRegion only when asked"))
    if "vm.legacy_mode" in bad:
        ed.prop("x-igd-legacy-mode", None, "x-igd-legacy-mode=off keeps legacy mode off", ("vm.legacy_mode",))
    if bad & {"rom.present", "rom.loadable", "rom.legacy_image"} and rom:
        ed.romfile(rom, "the ROM to give the guest (legacy mode runs its VBIOS)", tuple(bad & {"rom.present", "rom.loadable", "rom.legacy_image"}))
    if "vm.windows_address" in bad and vi is not None:
        ed.address(family, *_why(p, "address", "guest 00:02.0 on the root bus"))


def amend(cap: Capture | None, text: str, kind: str, mode: str | None = None, qemu_version: str | None = None,
          rom: str | None = None, device: int | None = None, *, bare: bool = False) -> Amendment:
    """The changes to ``text`` (a ``kind`` VM definition) that make ``mode`` (default: the mode
    the config asks for) pass check on the host of ``cap`` under ``qemu_version`` (default: as
    check finds it); ``rom`` is offered as romfile when the ROM rules need one."""
    if kind not in KINDS:
        raise ValueError(f"unknown VM config kind {kind!r}")
    vm = read(kind, text, bare)
    r0 = check.run_checks(cap, vm, qemu_version, device=device)
    asked = r0["requested_mode"]
    mode = mode or asked or "upt"
    if mode not in P.MODES:
        raise ValueError(f"unknown mode {mode!r}")
    hint = vm.qemu_version_hint if vm.qemu_version_hint != vm.created_with_qemu else None
    qv_text = qemu_version or (cap.host.get("qemu_version") if cap is not None else None) or hint
    version = qemu.version(qv_text)
    vi = vm.igd
    vm_rom = vi.romfile if vi is not None and vi.romfile else None
    p = P.plan(cap, mode, version, vm.firmware or "seabios", rom or vm_rom, device)
    ed = EDITORS[kind](text, bare)
    before = _verdict(r0, mode)
    r, cur = r0, vm
    named = dict.fromkeys([*before["failing"], *before.get("cautions", [])])
    if vi is not None and p.feasible:
        from igdscope.analysis.qemu import igd as qm
        from igdscope.analysis.qemu import machine as qmachine

        versions = [version] if version is not None else qm.versions_from(None)
        have = set.intersection(*(set(qmachine.vfio_pci_properties(x)) for x in versions))
        _structural(ed, vm, p, mode, have)
        for _ in range(MAX_ROUNDS):
            cur = read(kind, ed.render(), bare) if ed.changes else vm
            r = check.run_checks(cap, cur, qemu_version, device=device)
            named.update(dict.fromkeys([*_verdict(r, mode)["failing"], *_verdict(r, mode).get("cautions", [])]))
            n = len(ed.changes)
            if cur.igd is None:
                break
            _by_check(ed, cur, p, mode, r, rom, have)
            if mode == "legacy" and check.requested_mode(cur, version) != "legacy" and "x-igd-legacy-mode" in have:
                ed.prop("x-igd-legacy-mode", "on", *_why(p, "x-igd-legacy-mode", "asks QEMU for legacy mode"))
            if len(ed.changes) == n:
                break
        if ed.changes:
            cur = read(kind, ed.render(), bare)
            r = check.run_checks(cap, cur, qemu_version, device=device)
    after = _verdict(r, mode)
    after_mode = r["requested_mode"]
    failing = tuple(x for x in r["rules"] if x["id"] in after["failing"] and mode in x["modes"] and x["status"] == "fail")
    notes = list(ed.notes)
    if kind == "libvirt" and any(c.what == "<os><type machine>" for c in ed.changes) and "pcie-root-port" in text:
        notes.append("the domain has pcie-root-port controllers: they exist on q35 only; move their devices to pci.0 (or let virt-manager re-add them) for the i440fx machine")
    if isinstance(ed, ProxmoxEditor) and any(c.what == "machine" and c.new and "q35" not in c.new for c in ed.changes):
        eff = ed._effective()
        others = [k for k, v in eff.items() if re.fullmatch(r"hostpci\d+", k) and k != ed.key and re.search(r"(^|,)pcie=1\b", v)]
        if others:
            notes.append(f"{', '.join(others)} ha{'s' if len(others) == 1 else 've'} pcie=1, which qm start refuses without q35: drop pcie=1 there for the i440fx machine")
    words_before = tuple(getattr(ed, "before", ()))
    words_after = tuple(ed.q.words) if isinstance(ed, QemuEditor) else ()
    return Amendment(kind, mode, asked, p, text, ed.render(), tuple(ed.changes), before, after, after_mode,
                     failing, tuple(notes), words_before, words_after,
                     tuple(ed.qm_set()) if isinstance(ed, ProxmoxEditor) else (), tuple(named))
