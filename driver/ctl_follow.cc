#include "driver/ctl_follow.h"

#include <ctime>
#include <future>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "driver/growth_progress.h"
#include "driver/human_format.h"
#include "driver/output_json.h"
#include "driver/output_text.h"
#include "driver/progress.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

bool AllInSync(const repl::VolumeView& v) {
  for (const auto& r : v.replicas) {
    if (r.state != "in_sync") return false;
  }
  return !v.nbd_uri.empty();
}

std::string Clock() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[16];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
  return stamp;
}

// What a terminal shows: the table if asked, and a bar per replica copied into.
std::string Screen(const repl::VolumeView& v, const FollowOptions& options,
                   const TermStyle& style) {
  std::string out;
  if (options.table) {
    absl::StrAppend(&out, RenderResyncStatus(v, style));
  } else {
    absl::StrAppend(&out, "volume ", v.id, " (primary ", v.primary, ")\n");
  }
  std::string bars;
  for (const auto& r : v.replicas) {
    if (Copying(r) || !options.table) absl::StrAppend(&bars, RenderProgressLine(r, style));
  }
  if (!bars.empty()) absl::StrAppend(&out, options.table ? "\n" : "", bars);
  absl::StrAppend(
      &out,
      Paint(style, Color::kDim,
            absl::StrCat("updated ", Clock(), ", every ",
                         FormatDuration(static_cast<double>(options.interval.count()) / 1000),
                         ", Ctrl-C stops")),
      "\n");
  return out;
}

std::string Plain(const repl::VolumeView& v, const FollowOptions& options) {
  std::string out;
  if (options.table) return absl::StrCat("[", Clock(), "] ", RenderResyncStatus(v));
  for (const auto& r : v.replicas) {
    if (Copying(r)) absl::StrAppend(&out, "[", Clock(), "] ", RenderProgressPlain(r));
  }
  return out;
}

}  // namespace

absl::StatusOr<FollowOptions> FollowFlags(const Flags& f) {
  FollowOptions options;
  auto interval = f.GetInt("interval-ms", 1000);
  if (!interval.ok() || *interval <= 0) {
    return UsageError("--interval-ms must be a positive number of milliseconds");
  }
  auto timeout = f.GetInt("timeout", 0);
  if (!timeout.ok() || *timeout < 0) return UsageError("--timeout must be a number of seconds");
  options.interval = std::chrono::milliseconds(*interval);
  options.timeout = std::chrono::seconds(*timeout);
  return options;
}

CtlCommand& WithFollowFlags(CtlCommand& command) {
  return command.Flag("interval-ms", "N", "between two looks when following (default 1000)")
      .Flag("timeout", "S", "give up following after S seconds (exit 1; default never)");
}

absl::Status FollowVolume(CtlContext& ctx, const std::string& volume,
                          const FollowOptions& options) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  const bool live = ctx.style().tty && !ctx.json();
  LiveRegion region(ctx.out(), live);
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (true) {
    ASSIGN_OR_RETURN(auto view, cluster->GetVolume(volume));
    if (ctx.json()) {
      ctx.out() << ResyncStatusToJson(view).dump() << "\n";
    } else if (live) {
      region.Draw(Screen(view, options, ctx.style()));
    } else {
      ctx.out() << Plain(view, options);
    }
    ctx.out().flush();
    if (AllInSync(view)) {
      if (!ctx.json()) {
        ctx.out() << "volume " << view.id << ": all replicas "
                  << Paint(ctx.style(), Color::kGreen, "in sync") << "\n";
      }
      return absl::OkStatus();
    }
    if (options.timeout.count() > 0 && std::chrono::steady_clock::now() > deadline) {
      // Exit 1, not 4: the cluster answers, the copy just is not done.
      return absl::AbortedError(
          absl::StrCat("volume ", view.id, " not in sync after ",
                       FormatDuration(static_cast<double>(options.timeout.count())),
                       "; the copy goes on: follow it with `syncblock ctl resync-status ", view.id,
                       " --watch`"));
    }
    std::this_thread::sleep_for(options.interval);
  }
}

absl::Status FollowGrowth(CtlContext& ctx, const std::string& path, uint64_t to,
                          const std::function<absl::Status()>& grow) {
  absl::StatusOr<uint64_t> from = MeasuredSize(path);
  // Nothing to measure (the path is on another machine, or gone): just wait.
  if (ctx.json() || !from.ok()) return grow();
  const bool live = ctx.style().tty;
  LiveRegion region(ctx.out(), live);
  // A terminal is redrawn often; a log gets a line every few seconds.
  const auto interval = live ? std::chrono::milliseconds(200) : std::chrono::seconds(5);
  std::packaged_task<absl::Status()> task(grow);
  std::future<absl::Status> result = task.get_future();
  std::thread worker(std::move(task));
  const auto start = std::chrono::steady_clock::now();
  Growth g{*from, *from, to};
  auto show = [&] {
    g.now = MeasuredSize(path).value_or(g.now);
    g.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (live) {
      region.Draw(RenderGrowthLine(path, g, ctx.style()));
    } else {
      ctx.out() << "[" << Clock() << "] " << RenderGrowthPlain(path, g);
    }
    ctx.out().flush();
  };
  show();
  while (result.wait_for(interval) != std::future_status::ready) show();
  worker.join();
  absl::Status status = result.get();
  if (status.ok()) {
    g.done = true;
    show();
  }
  return status;
}

}  // namespace syncblock::driver
