/**
 * A small line chart in inline SVG: one line per series over a shared time axis, a y axis from 0
 * with round gridlines, start/end time labels and a legend. Sized by its viewBox, so it scales
 * with its container.
 */
import { h, svg } from './dom.js';

export interface Series {
  label: string;
  color: string;
  points: { t: number; v: number }[];
}

const W = 360;
const H = 150;
const PAD = { left: 58, right: 8, top: 8, bottom: 22 };

/** A round step so that max/step gives 3–5 gridlines. */
function niceStep(max: number): number {
  if (max <= 0) return 1;
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  const nice = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
  return nice * power;
}

/** Steps of 1024-multiples read better for byte axes. */
function niceByteStep(max: number): number {
  if (max <= 0) return 1;
  const unit = 1024 ** Math.max(0, Math.floor(Math.log(max) / Math.log(1024)));
  return niceStep(max / unit) * unit;
}

export function lineChart(options: {
  title: string;
  series: Series[];
  format: (v: number) => string;
  bytes?: boolean;
}): HTMLElement {
  const { series, format } = options;
  const all = series.flatMap((s) => s.points);
  const figure = h('figure', { class: 'chart' }, h('figcaption', {}, options.title));
  if (all.length < 2) {
    figure.append(h('p', { class: 'muted chart-empty' }, 'Collecting samples…'));
    return figure;
  }
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t), t0 + 1);
  const maxV = Math.max(...all.map((p) => p.v), 0);
  const step = options.bytes ? niceByteStep(maxV) : niceStep(maxV);
  const top = Math.max(step, Math.ceil(maxV / step) * step);
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': options.title,
  });
  for (let v = 0; v <= top + step / 2; v += step) {
    root.append(
      svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, format(v)),
    );
  }
  const clock = (t: number) =>
    new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  root.append(
    svg('text', { x: PAD.left, y: H - 6, class: 'axis', 'text-anchor': 'start' }, clock(t0)),
    svg('text', { x: W - PAD.right, y: H - 6, class: 'axis', 'text-anchor': 'end' }, clock(t1)),
  );
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points
      .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
      .join(' ');
    root.append(svg('path', { d, class: 'line', stroke: s.color }));
    const last = s.points[s.points.length - 1];
    if (last) root.append(svg('circle', { cx: x(last.t), cy: y(last.v), r: 2.5, fill: s.color }));
  }
  figure.append(root);
  figure.append(
    h(
      'ul',
      { class: 'legend' },
      series.map((s) => {
        const last = s.points[s.points.length - 1];
        return h(
          'li',
          {},
          h('span', { class: 'swatch', style: `background:${s.color}` }),
          `${s.label} `,
          h('span', { class: 'muted' }, last ? format(last.v) : '–'),
        );
      }),
    ),
  );
  return figure;
}
