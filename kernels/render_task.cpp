#include "kernels/render_task.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/color/coloring.h"
#include "kernels/cpu/thread_pool.h"

namespace fractal {
namespace {

struct TaskState {
  TaskRun* run;
  std::unique_ptr<Colorizer> colorizer;  // images only
  int ss = 1;
  int grid_w = 0, grid_h = 0;
  int band_rows = 0;  // grid rows per band, a multiple of ss
  int pass = 0;       // 0: histogram counting pass (when needed), 1: final pass
  int next_row = 0;
  std::vector<std::uint32_t> counts;
  std::vector<float> mag2;
  bool done = false;
};

cpu::ThreadPool& colour_pool() {
  static cpu::ThreadPool pool(cpu::resolve_threads(0));
  return pool;
}

// Colours (or copies) the band just rendered into the task's output.
void finish_band(TaskState& s, const RenderJob& job) {
  TaskRun& run = *s.run;
  const std::size_t n = static_cast<std::size_t>(job.rows) * s.grid_w;
  if (s.pass == 0) {
    s.colorizer->add_to_histogram(s.counts.data(), n);
    return;
  }
  run.iterations += job.iterations;
  if (run.spec.output == OutputKind::iterations) {
    for (int r = 0; r < job.rows; ++r) {
      float* out = run.image.row<float>(job.row0 + r);
      const std::uint32_t* in = s.counts.data() + static_cast<std::size_t>(r) * s.grid_w;
      for (int i = 0; i < s.grid_w; ++i) out[i] = static_cast<float>(in[i]);
    }
    return;
  }
  // Colour the band's pixel rows in parallel chunks.
  const int pixel_row0 = job.row0 / s.ss, pixel_rows = job.rows / s.ss;
  std::atomic<int> next{0};
  constexpr int kChunk = 16;
  // One parallel region at a time on the shared pool (render_tasks may be called from several threads).
  static std::mutex pool_mutex;
  std::lock_guard lock(pool_mutex);
  colour_pool().run([&](int) {
    for (;;) {
      const int r = next.fetch_add(kChunk);
      if (r >= pixel_rows) return;
      const int rows = std::min(kChunk, pixel_rows - r);
      const std::size_t off = static_cast<std::size_t>(r) * s.ss * s.grid_w;
      s.colorizer->colour_rows(s.counts.data() + off, s.mag2.empty() ? nullptr : s.mag2.data() + off,
                               pixel_row0 + r, rows, run.image);
    }
  });
}

}  // namespace

void render_tasks(Renderer& renderer, std::span<TaskRun* const> tasks, const RenderLimits& limits) {
  const std::int64_t band_samples = std::max<std::int64_t>(1, std::min(limits.band_samples, renderer.max_job_samples()));
  std::vector<TaskState> states(tasks.size());
  for (std::size_t k = 0; k < tasks.size(); ++k) {
    TaskState& s = states[k];
    TaskRun& run = *tasks[k];
    const TaskSpec& spec = run.spec;
    s.run = &run;
    s.ss = spec.output == OutputKind::image ? spec.supersample : 1;
    s.grid_w = spec.width * s.ss;
    s.grid_h = spec.height * s.ss;
    run.scalar = precision_used(spec);
    run.iterations = 0;
    run.canceled = false;
    const std::int64_t rows_fit = std::max<std::int64_t>(1, band_samples / s.grid_w);
    s.band_rows = static_cast<int>(std::clamp<std::int64_t>(rows_fit / s.ss * s.ss, s.ss, s.grid_h));
    const bool banded = s.band_rows < s.grid_h;
    std::uint64_t total = static_cast<std::uint64_t>(s.grid_w) * s.grid_h;
    if (spec.output == OutputKind::iterations) {
      run.image = ImageBuffer::make(spec.width, spec.height, 1, PixelType::f32);
    } else {
      s.colorizer = std::make_unique<Colorizer>(spec);
      run.image = ImageBuffer::make(spec.width, spec.height, 3, s.colorizer->pixel_type());
      if (s.colorizer->needs_histogram() && banded) total *= 2;  // counting pass + colour pass
    }
    s.pass = (s.colorizer && s.colorizer->needs_histogram()) ? 0 : 1;
    run.samples_total = total;
    run.orbit_steps_planned = run.scalar == Scalar::deep ? static_cast<std::uint64_t>(spec.max_iter) : 0;
    s.counts.resize(static_cast<std::size_t>(s.band_rows) * s.grid_w);
    if (s.colorizer && s.colorizer->needs_mag2()) s.mag2.resize(s.counts.size());
  }

  std::vector<RenderJob> jobs;
  std::vector<TaskState*> owners;
  for (;;) {
    jobs.clear();
    owners.clear();
    for (auto& s : states) {
      if (s.done) continue;
      if (s.run->cancel.load()) {
        s.run->canceled = true;
        s.done = true;
        continue;
      }
      const TaskSpec& spec = s.run->spec;
      RenderJob j;
      j.fractal = spec.fractal;
      j.center_re = spec.center[0].value;
      j.center_im = spec.center[1].value;
      j.scale = spec.scale.value;
      if (spec.julia_c) {
        j.julia_re = (*spec.julia_c)[0].value;
        j.julia_im = (*spec.julia_c)[1].value;
      }
      j.grid_width = s.grid_w;
      j.grid_height = s.grid_h;
      j.row0 = s.next_row;
      j.rows = std::min(s.band_rows, s.grid_h - s.next_row);
      j.max_iter = spec.max_iter;
      j.scalar = s.run->scalar;
      j.counts = s.counts.data();
      j.mag2 = s.mag2.empty() ? nullptr : s.mag2.data();
      j.cancel = &s.run->cancel;
      j.progress = &s.run->samples_done;
      jobs.push_back(j);
      owners.push_back(&s);
    }
    if (jobs.empty()) break;
    // Deep views run the perturbation renderer (kernels/deep): orbit and BLA
    // tables on the host, samples on the backend's runner (CUDA) or the CPU
    // (deep_sample_runner() null); the rest go to the backend in one batch.
    std::vector<RenderJob> shallow;
    std::vector<std::size_t> shallow_at;
    for (std::size_t k = 0; k < jobs.size(); ++k) {
      if (jobs[k].scalar == Scalar::deep) continue;
      shallow.push_back(jobs[k]);
      shallow_at.push_back(k);
    }
    if (!shallow.empty()) renderer.render(shallow);
    for (std::size_t q = 0; q < shallow.size(); ++q) jobs[shallow_at[q]] = shallow[q];
    for (std::size_t k = 0; k < jobs.size(); ++k) {
      RenderJob& j = jobs[k];
      if (j.scalar != Scalar::deep) continue;
      deep::Band band{j.grid_width, j.grid_height, j.row0, j.rows, j.counts, j.mag2, j.cancel, j.progress,
                      &owners[k]->run->orbit_steps};
      bool canceled = false;
      j.iterations =
          deep::render_band(owners[k]->run->spec, band, owners[k]->run->deep, canceled, renderer.deep_sample_runner());
      j.canceled = canceled;
    }
    for (std::size_t k = 0; k < jobs.size(); ++k) {
      TaskState& s = *owners[k];
      if (jobs[k].canceled || s.run->cancel.load()) {
        s.run->canceled = true;
        s.done = true;
        continue;
      }
      // A histogram pass over a single band keeps its counts: colour them right away.
      const bool single_band = s.band_rows >= s.grid_h;
      finish_band(s, jobs[k]);
      if (s.pass == 0 && single_band) {
        s.colorizer->finish_histogram();
        s.pass = 1;
        finish_band(s, jobs[k]);
        s.done = true;
        continue;
      }
      s.next_row += jobs[k].rows;
      if (s.next_row >= s.grid_h) {
        if (s.pass == 0) {
          s.colorizer->finish_histogram();
          s.pass = 1;
          s.next_row = 0;
        } else {
          s.done = true;
        }
      }
    }
  }
}

}  // namespace fractal
