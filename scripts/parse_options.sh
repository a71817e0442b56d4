#!/usr/bin/env bash
# Kaldi's run.sh option contract, written for asr. Source it after declaring variables:
#   stage=0; fsdd_dir=; . scripts/parse_options.sh
# Every declared variable foo_bar becomes an option --foo-bar VALUE (or --foo-bar=VALUE).
# An option with no declared variable is an error; a variable whose default is true or
# false only takes true or false. --help prints $help_message (if set) and the options.
# Positional arguments are left in "$@"; "--" ends the options.

_po_usage() {
  [ -n "${help_message:-}" ] && echo "$help_message"
  echo "Options (default in brackets):"
  for _po_var in $_po_declared; do
    printf '  --%-22s [%s]\n' "${_po_var//_/-}" "${!_po_var}"
  done
}

# the value NAME had in this process's environment when it started (Linux: /proc), else
# its exported value now
_po_inherited() {
  if [ -r "/proc/$$/environ" ]; then
    tr '\0' '\n' < "/proc/$$/environ" | sed -n "s/^$1=//p" | head -n 1
  else
    printenv "$1" 2>/dev/null
  fi
}

# variables declared before sourcing: the options this script accepts. Options are
# lower-case (as Kaldi's): an upper-case variable the environment brought in (FSDD_DIR) is
# not one unless the script assigned it a value of its own; a lower-case one always is,
# so that with 'export data=/scratch/x' in the shell, run.sh's 'data=data' is still --data.
_po_declared=$(compgen -v | grep -v -E '^(_po_|_$|BASH|FUNCNAME|PIPESTATUS|GROUPS|DIRSTACK|SHELLOPTS|BASHOPTS|EUID|PPID|UID|HOST|MACHTYPE|OSTYPE|HOSTNAME|HOSTTYPE|IFS|LINENO|OPT|PS[0-9]|PWD|OLDPWD|RANDOM|SECONDS|SHLVL|TERM|HOME|PATH|LANG|LC_|COLUMNS|LINES|HIST|COMP|MAIL|SHELL|USER|LOGNAME|EPOCH|SRANDOM|help_message)' | while read -r v; do
  if [[ "$v" =~ [A-Z] ]] && [ -n "$(printenv "$v" 2>/dev/null)" ] \
      && [ "$(_po_inherited "$v")" = "${!v}" ]; then
    continue  # the environment's, untouched by the script: not a declared option
  fi
  echo "$v"; done | tr '\n' ' ')

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) _po_usage; exit 0 ;;
    --) shift; break ;;  # the rest is positional, even if it looks like options
    --*=*) _po_name="${1%%=*}"; _po_value="${1#*=}"; shift ;;
    --*)
      _po_name="$1"
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
      _po_value="$2"; shift 2 ;;
    *) break ;;
  esac
  _po_var="${_po_name#--}"; _po_var="${_po_var//-/_}"
  case " $_po_declared " in
    *" $_po_var "*) ;;
    *) echo "$0: unknown option $_po_name (see --help)" >&2; exit 1 ;;
  esac
  case "${!_po_var}" in
    true|false)
      if [ "$_po_value" != true ] && [ "$_po_value" != false ]; then
        echo "$0: option $_po_name takes true or false, got '$_po_value'" >&2; exit 1
      fi ;;
  esac
  printf -v "$_po_var" '%s' "$_po_value"
done
unset _po_name _po_value _po_var
true
