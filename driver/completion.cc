#include "driver/completion.h"

#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/commands.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_errors.h"

namespace syncblock::driver {

namespace {

// Words after `syncblock` and after `syncblock local`, and the flags that
// take a value outside ctl (the daemons' flags complete from `--help`).
constexpr char kTopLevel[] = "ctl local storage csi completion version help";
constexpr char kLocalVerbs[] = "up down kill start status";
const std::set<std::string> kLocalFlags = {
    "--dir",       "--nodes",    "--zones",  "--resync-rate", "--io-timeout-ms",
    "--log-level", "--lease-ms", "--no-csi", "--require-csi", "--csi-node-id",
    "--timeout",   "--purge",    "--output"};
const std::set<std::string> kGlobalCtlFlags = {"--storage-nodes", "--cluster", "--output",
                                               "--timeout-ms", "--help"};
// Flags whose value is a directory.
constexpr char kDirectoryFlags[] = "--cluster|--dir|--data-dir|--state-dir";

struct Tree {
  std::map<std::string, std::set<std::string>> words;  // path -> what may follow
  std::set<std::string> value_flags;                   // flags that take a value
};

Tree BuildTree(const std::vector<CtlCommand>& table) {
  Tree t;
  t.words[""] = {};
  for (absl::string_view w : absl::StrSplit(kTopLevel, ' ')) t.words[""].insert(std::string(w));
  t.words["completion"] = {"bash", "zsh"};
  for (absl::string_view w : absl::StrSplit(kLocalVerbs, ' ')) {
    t.words["local"].insert(std::string(w));
    t.words[absl::StrCat("local ", w)] = kLocalFlags;
  }
  t.value_flags = {"--storage-nodes", "--cluster",       "--output",    "-o",
                   "--timeout-ms",    "--dir",           "--nodes",     "--zones",
                   "--resync-rate",   "--io-timeout-ms", "--log-level", "--csi-node-id",
                   "--timeout",       "--lease-ms"};
  t.words["ctl"] = kGlobalCtlFlags;
  for (const auto& c : table) {
    std::string path = "ctl";
    for (const auto& part : c.path) {
      t.words[path].insert(part);
      absl::StrAppend(&path, " ", part);
      t.words.try_emplace(path);
    }
    auto& flags = t.words[path];
    flags.insert(kGlobalCtlFlags.begin(), kGlobalCtlFlags.end());
    for (const auto& f : c.flags) {
      flags.insert("--" + f);
      if (!c.bool_flags.count(f)) t.value_flags.insert("--" + f);
    }
  }
  return t;
}

// A POSIX `case` over the paths, shared by both shells: prints what may
// follow PATH, fails for a path that is not a command.
std::string WordsFunction(const Tree& t) {
  std::string out = "_syncblock_words() {\n  case \"$1\" in\n";
  for (const auto& [path, words] : t.words) {
    absl::StrAppend(&out, "    \"", path, "\") printf '%s\\n' \"", absl::StrJoin(words, " "),
                    "\" ;;\n");
  }
  absl::StrAppend(&out, "    *) return 1 ;;\n  esac\n}\n");
  return out;
}

std::string ValueFlagsPattern(const Tree& t) { return absl::StrJoin(t.value_flags, "|"); }

// The body both shells share: walks the words before the cursor (skipping
// flags and flag values) to the deepest known command, `sb_path`, then
// completes a flag's value by `prev` with the shell's own actions.
struct ShellActions {
  std::string header;        // `local ...` of cur/prev
  std::string first_word;    // index of the word after `syncblock`
  std::string cursor;        // index of the word being completed
  std::string word;          // the i-th word
  std::string directories;   // complete a directory
  std::string output_kinds;  // complete table|json
  std::string nothing;       // complete nothing
  std::string commands;      // complete the words of "$sb_path"
};

std::string CompletionFunction(const Tree& t, const ShellActions& a) {
  return absl::StrCat(
      "_syncblock() {\n", a.header, "  local sb_path=\"\" w i\n", "  for ((i = ", a.first_word,
      "; i < ", a.cursor, "; i++)); do\n", "    w=\"", a.word, "\"\n", "    case \"$w\" in\n",
      "      ", ValueFlagsPattern(t), ") ((i++)) ;;\n", "      -*) ;;\n",
      "      *) if _syncblock_words \"${sb_path:+$sb_path }$w\" >/dev/null; then\n",
      "           sb_path=\"${sb_path:+$sb_path }$w\"\n", "         fi ;;\n", "    esac\n",
      "  done\n", "  case \"$prev\" in\n", "    ", kDirectoryFlags, ") ", a.directories,
      "; return ;;\n", "    -o|--output) ", a.output_kinds, "; return ;;\n", "    ",
      ValueFlagsPattern(t), ") ", a.nothing, "; return ;;\n", "  esac\n", a.commands, "}\n");
}

std::string Bash(const Tree& t) {
  ShellActions a;
  a.header = "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n";
  a.first_word = "1";
  a.cursor = "COMP_CWORD";
  a.word = "${COMP_WORDS[i]}";
  a.directories = "COMPREPLY=($(compgen -d -- \"$cur\"))";
  a.output_kinds = "COMPREPLY=($(compgen -W \"table json\" -- \"$cur\"))";
  a.nothing = "COMPREPLY=()";
  a.commands = "  COMPREPLY=($(compgen -W \"$(_syncblock_words \"$sb_path\")\" -- \"$cur\"))\n";
  return absl::StrCat("# bash completion for syncblock: source <(syncblock completion bash)\n",
                      WordsFunction(t), CompletionFunction(t, a),
                      "complete -F _syncblock syncblock\n");
}

std::string Zsh(const Tree& t) {
  ShellActions a;
  a.header = "  local prev=\"${words[CURRENT-1]}\"\n";
  a.first_word = "2";
  a.cursor = "CURRENT";
  a.word = "${words[i]}";
  a.directories = "_files -/";
  a.output_kinds = "compadd table json";
  a.nothing = ":";
  a.commands =
      "  local candidates\n"
      "  candidates=\"$(_syncblock_words \"$sb_path\")\" || return 1\n"
      "  compadd -- ${=candidates}\n";
  return absl::StrCat(
      "#compdef syncblock\n"
      "# zsh completion for syncblock: source <(syncblock completion zsh) after compinit,\n"
      "# or save it as _syncblock in a directory of $fpath.\n",
      WordsFunction(t), CompletionFunction(t, a),
      "if [ \"${funcstack[1]}\" = _syncblock ]; then\n"
      "  _syncblock \"$@\"\n"
      "else\n"
      "  compdef _syncblock syncblock\n"
      "fi\n");
}

}  // namespace

std::string CompletionScript(const std::string& shell, const std::vector<CtlCommand>& table) {
  if (shell == "bash") return Bash(BuildTree(table));
  if (shell == "zsh") return Zsh(BuildTree(table));
  return "";
}

int RunCompletion(int argc, char** argv) {
  const std::string usage =
      "usage: syncblock completion bash|zsh\n"
      "\n"
      "Prints a shell completion script for syncblock and its ctl commands:\n"
      "  source <(syncblock completion bash)    # in ~/.bashrc\n"
      "  source <(syncblock completion zsh)     # in ~/.zshrc, after compinit\n";
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << usage;
    return 0;
  }
  std::string script = argc == 2 ? CompletionScript(argv[1], CtlCommandTable()) : "";
  if (script.empty()) {
    std::cerr << "syncblock completion: name the shell, bash or zsh (e.g. `source <(syncblock "
                 "completion bash)`)\n";
    return kExitUsage;
  }
  std::cout << script;
  return 0;
}

}  // namespace syncblock::driver
