#!/usr/bin/env python3
"""Check that DTE's TOSCA files load in OpenStack's tosca-parser.

Usage:
    python3 scripts/toscaparser_check.py [FILE ...]

Without arguments every *.yaml / *.yml under sites/, templates/ and recipes/
of the repository that contains this script is checked. For each file the
script prints ``ok <file>`` or ``FAIL <file>: <error>`` (further errors of the
same file follow on indented lines) and exits 1 if any file failed, 2 on a
usage error.

How a file is checked:
  * A file with a topology_template is loaded with
    ``toscaparser.tosca_template.ToscaTemplate(path)``.
  * A file with types only (no topology_template) is loaded through a tiny
    wrapper template (in a temporary folder) that imports it, because
    tosca-parser only validates what a topology uses.
  * In both cases every type the file itself defines is then built with
    tosca-parser's type classes (NodeType, DataType, CapabilityTypeDef,
    RelationshipType, PolicyType, GroupType, ArtifactTypeDef), and every
    property and attribute definition is parsed and its default (unless it is
    a function) checked against its type and constraints. tosca-parser does
    none of this for types no template instantiates.
  * Type definitions may only use TOSCA 1.3 keynames, and every type and
    every property and attribute definition needs a description.
  * Across all files checked together: node template names must be unique,
    and the names of sites, twins and components must be DNS-1123 labels
    (they become Kubernetes namespace and pod names).

Offline: imports by URL are resolved through the ``import_map`` of the
repository's dte.yaml (URL -> path relative to the repository root); a URL
import that is not mapped fails the file instead of being downloaded.

Requires: python3 -m pip install tosca-parser==2.15.0
"""

import logging
import os
import re
import sys
import tempfile

try:
    import yaml
    from toscaparser.common.exception import ExceptionCollector
    from toscaparser.common.exception import ValidationError
    from toscaparser.elements.artifacttype import ArtifactTypeDef
    from toscaparser.elements.capabilitytype import CapabilityTypeDef
    from toscaparser.elements.constraints import Schema
    from toscaparser.elements.datatype import DataType
    from toscaparser.elements.grouptype import GroupType
    from toscaparser.elements.nodetype import NodeType
    from toscaparser.elements.policytype import PolicyType
    from toscaparser.elements.relationshiptype import RelationshipType
    from toscaparser.dataentity import DataEntity
    from toscaparser.functions import is_function
    from toscaparser.tosca_template import ToscaTemplate
except ImportError as error:  # pragma: no cover - environment problem
    sys.stderr.write(
        "toscaparser_check: %s\n"
        "install it with: python3 -m pip install tosca-parser==2.15.0\n"
        % error)
    sys.exit(2)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED_FOLDERS = ("sites", "templates", "recipes")
URL_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# DTE node types whose template names become Kubernetes names.
NAMED_BASES = ("dte.nodes.Site", "dte.nodes.DigitalTwin", "dte.nodes.Component")

TYPE_SECTIONS = ("node_types", "data_types", "capability_types",
                 "relationship_types", "policy_types", "group_types",
                 "artifact_types")

# Keynames TOSCA Simple Profile 1.3 allows (tosca-parser ignores unknown
# keynames in several places; DTE's own validator does not).
COMMON_TYPE_KEYS = {"derived_from", "version", "metadata", "description"}
TYPE_KEYS = {
    "node_types": COMMON_TYPE_KEYS | {"properties", "attributes",
                                      "requirements", "capabilities",
                                      "interfaces", "artifacts"},
    "data_types": COMMON_TYPE_KEYS | {"constraints", "properties",
                                      "key_schema", "entry_schema"},
    "capability_types": COMMON_TYPE_KEYS | {"properties", "attributes",
                                            "valid_source_types"},
    "relationship_types": COMMON_TYPE_KEYS | {"properties", "attributes",
                                              "interfaces",
                                              "valid_target_types"},
    "policy_types": COMMON_TYPE_KEYS | {"properties", "targets", "triggers"},
    "group_types": COMMON_TYPE_KEYS | {"properties", "attributes", "members",
                                       "interfaces"},
    "artifact_types": COMMON_TYPE_KEYS | {"mime_type", "file_ext",
                                          "properties"},
}
PROPERTY_KEYS = {"type", "description", "required", "default", "status",
                 "constraints", "key_schema", "entry_schema", "metadata"}
ATTRIBUTE_KEYS = {"type", "description", "default", "status", "key_schema",
                  "entry_schema"}
CAPABILITY_DEFINITION_KEYS = {"type", "description", "properties",
                              "attributes", "valid_source_types",
                              "occurrences"}
REQUIREMENT_DEFINITION_KEYS = {"capability", "node", "relationship",
                               "occurrences"}


class CheckFailure(Exception):
    """A problem found outside tosca-parser's own validation."""


def repository_files():
    found = []
    for folder in SCANNED_FOLDERS:
        base = os.path.join(REPO_ROOT, folder)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.endswith((".yaml", ".yml")):
                    found.append(os.path.join(dirpath, name))
    return found


def display_name(path):
    absolute = os.path.abspath(path)
    if absolute.startswith(REPO_ROOT + os.sep):
        return os.path.relpath(absolute, REPO_ROOT)
    return path


def load_import_map():
    """URL -> absolute local path, from dte.yaml's import_map (if any)."""
    config_path = os.path.join(REPO_ROOT, "dte.yaml")
    if not os.path.isfile(config_path):
        return {}
    with open(config_path) as handle:
        config = yaml.safe_load(handle) or {}
    mapping = config.get("import_map") or {}
    if not isinstance(mapping, dict):
        raise CheckFailure("dte.yaml: import_map must be a map of URL to path")
    return {url: os.path.join(REPO_ROOT, local)
            for url, local in mapping.items()}


def read_yaml(path):
    with open(path) as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict):
        raise CheckFailure("not a TOSCA document (top level is not a map)")
    return document


def import_targets(document):
    """The file names / URLs a document imports (both import syntaxes)."""
    targets = []
    for entry in document.get("imports") or []:
        if isinstance(entry, str):
            targets.append(entry)
        elif isinstance(entry, dict):
            if "file" in entry:
                targets.append(entry["file"])
            else:  # old named form: { name: file-or-definition }
                for value in entry.values():
                    if isinstance(value, dict):
                        targets.append(value.get("file"))
                    else:
                        targets.append(value)
    return [t for t in targets if t]


def check_imports_offline(path, import_map, seen=None):
    """Fail when an import (transitively) is a URL not in the import map."""
    seen = set() if seen is None else seen
    path = os.path.abspath(path)
    if path in seen:
        return
    seen.add(path)
    document = read_yaml(path)
    for target in import_targets(document):
        if URL_PATTERN.match(target):
            if target not in import_map:
                raise CheckFailure(
                    "%s imports %s, which is not in dte.yaml's import_map "
                    "(this check runs offline)" % (display_name(path), target))
            local = import_map[target]
        else:
            local = os.path.join(os.path.dirname(path), target)
        if not os.path.isfile(local):
            raise CheckFailure("%s imports %s, which does not exist"
                               % (display_name(path), target))
        check_imports_offline(local, import_map, seen)


def load_template(path, document, import_map):
    """Load with ToscaTemplate (through a wrapper for type-only files)."""
    local_defs = import_map or None
    if document.get("topology_template"):
        return ToscaTemplate(os.path.abspath(path), local_defs=local_defs)
    with tempfile.TemporaryDirectory(prefix="dte-tosca-check-") as folder:
        wrapper = os.path.join(folder, "wrapper.yaml")
        with open(wrapper, "w") as handle:
            yaml.safe_dump({
                "tosca_definitions_version": "tosca_simple_yaml_1_3",
                "imports": [os.path.abspath(path)],
                "topology_template": {
                    "node_templates": {
                        "toscaparser-check-wrapper": {
                            "type": "tosca.nodes.Root"}}}}, handle)
        return ToscaTemplate(wrapper, local_defs=local_defs)


def check_definition_schema(name, schema, custom_defs):
    """Parse one property/attribute definition and check its default."""
    parsed = Schema(name, schema)
    parsed.constraints  # parses the constraint clauses (errors are collected)
    if "default" in schema and not is_function(schema["default"]):
        value = DataEntity.validate_datatype(
            parsed.type, schema["default"], parsed.entry_schema,
            custom_defs, name, parsed.key_schema)
        for constraint in parsed.constraints or []:
            constraint.validate(value)


def unknown_keys(where, mapping, allowed):
    if not isinstance(mapping, dict):
        return ["%s: expected a map" % where]
    return ['%s: unknown keyname "%s" (TOSCA 1.3 allows: %s)'
            % (where, key, ", ".join(sorted(allowed)))
            for key in mapping if key not in allowed]


def grammar_problems(document):
    """Keynames and descriptions of the types the document defines."""
    problems = []
    for section in TYPE_SECTIONS:
        for type_name, definition in (document.get(section) or {}).items():
            where = "%s %s" % (section, type_name)
            problems += unknown_keys(where, definition or {},
                                     TYPE_KEYS[section])
            if not isinstance(definition, dict):
                continue
            if not definition.get("description"):
                problems.append("%s: has no description" % where)
            for key, allowed in (("properties", PROPERTY_KEYS),
                                 ("attributes", ATTRIBUTE_KEYS)):
                for name, schema in (definition.get(key) or {}).items():
                    inner = "%s %s %s" % (where, key, name)
                    problems += unknown_keys(inner, schema, allowed)
                    if isinstance(schema, dict) and not schema.get(
                            "description"):
                        problems.append("%s: has no description" % inner)
            for name, capability in (definition.get("capabilities")
                                     or {}).items():
                if isinstance(capability, dict):
                    problems += unknown_keys(
                        "%s capabilities %s" % (where, name), capability,
                        CAPABILITY_DEFINITION_KEYS)
            for requirement in definition.get("requirements") or []:
                for name, value in requirement.items():
                    if isinstance(value, dict):
                        problems += unknown_keys(
                            "%s requirements %s" % (where, name), value,
                            REQUIREMENT_DEFINITION_KEYS)
    return problems


def check_own_types(document, custom_defs):
    """Build every type the document defines with tosca-parser's classes."""
    for section in TYPE_SECTIONS:
        for type_name, definition in (document.get(section) or {}).items():
            if section == "node_types":
                node_type = NodeType(type_name, custom_defs)
                node_type.get_properties_def_objects()
                node_type.get_attributes_def_objects()
                node_type.get_capabilities_objects()
                node_type.relationship  # resolves requirement definitions
            elif section == "data_types":
                DataType(type_name, custom_defs).get_all_properties()
            elif section == "capability_types":
                CapabilityTypeDef(type_name, type_name, None,
                                  custom_defs).get_properties_def_objects()
            elif section == "relationship_types":
                RelationshipType(type_name, None,
                                 custom_defs).get_properties_def_objects()
            elif section == "policy_types":
                PolicyType(type_name, custom_defs)
            elif section == "group_types":
                GroupType(type_name, custom_defs)
            elif section == "artifact_types":
                ArtifactTypeDef(type_name, custom_defs)
            definition = definition or {}
            for key in ("properties", "attributes"):
                for name, schema in (definition.get(key) or {}).items():
                    check_definition_schema(name, schema, custom_defs)


def derives_from(type_definition, base_names):
    current = type_definition
    while current is not None:
        if current.type in base_names:
            return True
        current = current.parent_type
    return False


def check_file(path, import_map):
    """Return (errors, {node template name: type is DNS-named?})."""
    document = read_yaml(path)
    check_imports_offline(path, import_map)
    try:
        template = load_template(path, document, import_map)
    except ValidationError:
        # The message embeds stack traces; report the collected errors only.
        return ExceptionCollector.getExceptionsReport(full=False), {}
    custom_defs = template.topology_template.custom_defs
    ExceptionCollector.start()
    try:
        check_own_types(document, custom_defs)
    except Exception as error:  # tosca-parser raises on some type errors
        ExceptionCollector.appendException(error)
    ExceptionCollector.stop()
    errors = ExceptionCollector.getExceptionsReport(full=False)
    errors += grammar_problems(document)
    names = {}
    if document.get("topology_template"):
        for node in template.nodetemplates:
            names[node.name] = derives_from(node.type_definition, NAMED_BASES)
    return errors, names


def main(argv):
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        return 0
    logging.getLogger("tosca").addHandler(logging.NullHandler())
    logging.getLogger("tosca").propagate = False
    try:
        import_map = load_import_map()
    except (CheckFailure, yaml.YAMLError) as error:
        print("FAIL dte.yaml: %s" % error)
        return 1
    paths = argv or repository_files()
    if not paths:
        print("toscaparser_check: no files to check", file=sys.stderr)
        return 2
    failed = False
    owners = {}
    for path in paths:
        shown = display_name(path)
        try:
            errors, names = check_file(path, import_map)
        except Exception as error:  # YAML, I/O, tosca-parser crashes, ...
            errors, names = ["%s: %s" % (type(error).__name__,
                                         str(error).strip())], {}
        for name, dns_named in sorted(names.items()):
            if name in owners:
                errors.append('node template name "%s" is also used in %s '
                              '(names are global in a repository)'
                              % (name, owners[name]))
            else:
                owners[name] = shown
            if dns_named and (not DNS_LABEL.match(name) or len(name) > 63):
                errors.append('node template name "%s" is not a DNS-1123 '
                              'label (lowercase letters, digits, "-", at '
                              'most 63 characters)' % name)
        if errors:
            failed = True
            lines = [line.strip() for error in errors
                     for line in str(error).splitlines() if line.strip()]
            print("FAIL %s: %s" % (shown, lines[0]))
            for line in lines[1:]:
                print("    %s" % line)
        else:
            print("ok %s" % shown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
