#include "check_hooks.hpp"

#include <clang/AST/ASTContext.h>
#include <clang/AST/RecursiveASTVisitor.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Frontend/ASTUnit.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Tooling/Tooling.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <fstream>
#include <ltrt/hook_list.hpp>
#include <memory>
#include <sstream>

#include "diagnostics.hpp"
#include "emit_project.hpp"

namespace ltgen {

const std::vector<HookSignature>& hook_signatures() {
  // The declarations come from the same list the runtime calls the hooks from.
#define LTGEN_HOOK_SIGNATURE(name, params) {#name, "void " #name #params},
  static const std::vector<HookSignature> hooks = {LTRT_HOOK_LIST(LTGEN_HOOK_SIGNATURE)};
#undef LTGEN_HOOK_SIGNATURE
  return hooks;
}

namespace {

// The hook closest to a misspelt name, however far (the message always names one).
std::string nearest_hook(const std::string& name) {
  std::string best;
  std::size_t best_distance = SIZE_MAX;
  for (const auto& h : hook_signatures()) {
    const std::size_t d = ltrt::edit_distance(name, h.name);
    if (d < best_distance) best_distance = d, best = h.name;
  }
  return best;
}

ltrt::json::Pos position(const clang::SourceManager& sm, clang::SourceLocation loc) {
  const clang::PresumedLoc p = sm.getPresumedLoc(sm.getExpansionLoc(loc));
  if (p.isInvalid()) return {};
  return {static_cast<int>(p.getLine()), static_cast<int>(p.getColumn())};
}

// The alias ltrt::hook_types::<name> of ltrt/hooks.hpp: the hook's function type.
const clang::TypedefNameDecl* expected_type(clang::ASTContext& ctx, const std::string& name) {
  const clang::DeclContext* dc = ctx.getTranslationUnitDecl();
  for (const char* ns : {"ltrt", "hook_types"}) {
    const clang::NamespaceDecl* found = nullptr;
    for (const clang::NamedDecl* d : dc->lookup(&ctx.Idents.get(ns)))
      if (const auto* n = llvm::dyn_cast<clang::NamespaceDecl>(d)) found = n;
    if (!found) return nullptr;
    dc = found;
  }
  for (const clang::NamedDecl* d : dc->lookup(&ctx.Idents.get(name)))
    if (const auto* t = llvm::dyn_cast<clang::TypedefNameDecl>(d)) return t;
  return nullptr;
}

// Return and parameter types as the hook's; exception specifications, parameter names and top-level
// const on parameters may differ.
bool same_signature(clang::ASTContext& ctx, const clang::FunctionDecl& fd, clang::QualType expected) {
  const auto* want = expected->getAs<clang::FunctionProtoType>();
  const auto* got = fd.getType()->getAs<clang::FunctionProtoType>();
  if (!want || !got || got->isVariadic() || got->getNumParams() != want->getNumParams()) return false;
  if (!ctx.hasSameType(got->getReturnType(), want->getReturnType())) return false;
  for (unsigned i = 0; i < want->getNumParams(); ++i)
    if (!ctx.hasSameUnqualifiedType(got->getParamType(i), want->getParamType(i))) return false;  // `const int64_t i`
  return true;
}

class HookFinder : public clang::RecursiveASTVisitor<HookFinder> {
 public:
  HookFinder(clang::ASTContext& ctx, const std::string& path) : ctx_(ctx), sm_(ctx.getSourceManager()), path_(path) {}

  bool VisitFunctionDecl(clang::FunctionDecl* fd) {
    if (llvm::isa<clang::CXXMethodDecl>(fd) || !fd->getDeclName().isIdentifier()) return true;
    if (!fd->isThisDeclarationADefinition() || !sm_.isInMainFile(sm_.getExpansionLoc(fd->getLocation()))) return true;
    const std::string name = fd->getName().str();
    // on_* names are hooks wherever they are; setup and teardown at global scope (a helper of that
    // name inside a namespace stays a helper).
    const bool at_global_scope = fd->getDeclContext()->getRedeclContext()->isTranslationUnit();
    if (name.rfind("on_", 0) != 0 && !((name == "setup" || name == "teardown") && at_global_scope))
      return true;  // a helper
    const auto& hooks = hook_signatures();
    const auto hook = std::find_if(hooks.begin(), hooks.end(), [&](const HookSignature& h) { return h.name == name; });
    if (hook == hooks.end())
      fail(fd, "'" + name + "' is not a hook; did you mean '" + nearest_hook(name) +
                   "'? (functions named on_* must be hooks: rename a helper)");
    if (!at_global_scope)
      fail(fd, "hook '" + name + "' must be defined at global scope, outside namespaces: the trainer calls ::" + name);
    if (fd->isExternC()) fail(fd, "hook '" + name + "' must have C++ linkage: remove extern \"C\"");
    if (fd->getDescribedFunctionTemplate() || fd->isFunctionTemplateSpecialization())
      fail(fd, "hook '" + name + "' must be a plain function, not a template; expected '" + hook->declaration + "'");
    const clang::TypedefNameDecl* expected = expected_type(ctx_, name);
    if (!expected)
      fail(fd, "hook '" + name + "' needs the hook API: add #include <ltrt/hooks.hpp> at the top of the file");
    if (!same_signature(ctx_, *fd, expected->getUnderlyingType()))
      fail(fd, "hook '" + name + "' has the wrong signature; expected '" + hook->declaration + "'");
    if (fd->getStorageClass() == clang::SC_Static || fd->isInlineSpecified())
      fail(fd, std::string("hook '") + name + "' must not be " + (fd->isInlineSpecified() ? "inline" : "static") +
                   ": the trainer calls it from another file");
    defined_.push_back(name);
    return true;
  }

  std::vector<std::string> defined() const {
    std::vector<std::string> out;
    for (const auto& h : hook_signatures())
      if (std::count(defined_.begin(), defined_.end(), h.name)) out.push_back(h.name);
    return out;
  }

 private:
  [[noreturn]] void fail(const clang::FunctionDecl* fd, const std::string& message) const {
    throw SpecError(path_, position(sm_, fd->getLocation()), "", message);
  }

  clang::ASTContext& ctx_;
  const clang::SourceManager& sm_;
  std::string path_;
  std::vector<std::string> defined_;
};

// The file is copied alone into the generated project: a header of the user's own would be missing there.
void check_includes(const clang::SourceManager& sm, const std::string& path) {
  for (unsigned i = 0; i < sm.local_sloc_entry_size(); ++i) {
    const clang::SrcMgr::SLocEntry& e = sm.getLocalSLocEntry(i);
    if (!e.isFile()) continue;
    const clang::SrcMgr::FileInfo& f = e.getFile();
    const clang::SourceLocation at = f.getIncludeLoc();
    if (at.isInvalid() || !sm.isInMainFile(at) || f.getFileCharacteristic() != clang::SrcMgr::C_User) continue;
    throw SpecError(path, position(sm, at), "",
                    "the hooks file is copied alone into the generated project: include only the standard "
                    "library and <ltrt/hooks.hpp>, not a header of your own (put helpers in the hooks file)");
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path, {}, "", "cannot open the hooks file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

HooksFile check_hooks(const std::string& path) {
  HooksFile out;
  out.path = path;
  out.text = read_file(path);
  // The runtime's headers as system headers: only the user's own includes count as C_User.
  const std::vector<std::string> args = {"-std=c++17",    "-fsyntax-only",
                                         "-isystem",      ltgen_home() + "/runtime/include",
                                         "-resource-dir", LTGEN_CLANG_RESOURCE_DIR};
  std::string rendered;
  llvm::raw_string_ostream os(rendered);
  auto options = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
  options->ShowColors = false;
  clang::TextDiagnosticPrinter printer(os, options.get());
  const std::unique_ptr<clang::ASTUnit> ast = clang::tooling::buildASTFromCodeWithArgs(
      out.text, args, path, "ltgen", std::make_shared<clang::PCHContainerOperations>(),
      clang::tooling::getClangStripDependencyFileAdjuster(), clang::tooling::FileContentMappings(), &printer);
  os.flush();
  if (!ast || printer.getNumErrors() > 0) {
    // Clang's own diagnostics, file:line:col first; ltgen adds only what to do about them.
    while (!rendered.empty() && rendered.back() == '\n') rendered.pop_back();
    if (rendered.empty()) rendered = path + ": error: clang could not parse the hooks file";
    throw SpecError::rendered(
        path, rendered + "\nltgen: the hooks file must compile as C++17 (it includes <ltrt/hooks.hpp>)");
  }
  clang::ASTContext& ctx = ast->getASTContext();
  check_includes(ctx.getSourceManager(), path);
  HookFinder finder(ctx, path);
  finder.TraverseDecl(ctx.getTranslationUnitDecl());
  out.defined = finder.defined();
  return out;
}

}  // namespace ltgen
