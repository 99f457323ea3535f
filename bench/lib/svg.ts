/*
 * Just enough SVG for the benchmark's charts: a scatter with labelled points and a horizontal
 * bar chart with goal lines. Hand-written so the benchmark needs no charting dependency.
 */

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const AXIS = '#444';
const GRID = '#e5e5e5';

export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
}

export interface ScatterSeries {
  name: string;
  color: string;
  points: ScatterPoint[];
  /** Where the point labels go, so that two series' labels at close points do not overlap. @default 'above' */
  labels?: 'above' | 'below';
}

export interface ScatterChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ScatterSeries[];
  width?: number;
  height?: number;
}

export function scatterChart(options: ScatterChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const margin = { top: 40, right: 30, bottom: 55, left: 65 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const points = options.series.flatMap((s) => s.points);
  const xTicks = niceTicks(0, Math.max(...points.map((p) => p.x)) * 1.08);
  const yTicks = niceTicks(0, Math.max(...points.map((p) => p.y)) * 1.1);
  const xMax = xTicks.at(-1)!;
  const yMax = yTicks.at(-1)!;
  const sx = (x: number) => margin.left + (x / xMax) * plotW;
  const sy = (y: number) => margin.top + plotH - (y / yMax) * plotH;

  const parts: string[] = [svgOpen(width, height), title(options.title, width)];
  for (const tick of xTicks) {
    parts.push(line(sx(tick), margin.top, sx(tick), margin.top + plotH, GRID));
    parts.push(text(sx(tick), margin.top + plotH + 16, formatTick(tick), 'middle', 11));
  }
  for (const tick of yTicks) {
    parts.push(line(margin.left, sy(tick), margin.left + plotW, sy(tick), GRID));
    parts.push(text(margin.left - 6, sy(tick) + 4, formatTick(tick), 'end', 11));
  }
  parts.push(axes(margin.left, margin.top, plotW, plotH));
  parts.push(text(margin.left + plotW / 2, height - 12, options.xLabel, 'middle', 12));
  parts.push(
    `<text ${FONT} font-size="12" fill="${AXIS}" text-anchor="middle" transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)">${escapeXml(options.yLabel)}</text>`,
  );
  for (const series of options.series) {
    for (const point of series.points) {
      const cx = sx(point.x);
      const cy = sy(point.y);
      parts.push(`<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="5" fill="${series.color}"/>`);
      const anchor = cx > margin.left + plotW * 0.8 ? 'end' : 'start';
      const dx = anchor === 'end' ? -8 : 8;
      const dy = series.labels === 'below' ? 17 : -7;
      parts.push(
        text(cx + dx, cy + dy, point.label, anchor, 11, series.color, series.labels === 'below' ? 600 : 400),
      );
    }
  }
  let legendX = margin.left + 8;
  for (const series of options.series) {
    parts.push(`<circle cx="${legendX}" cy="${margin.top + 10}" r="5" fill="${series.color}"/>`);
    parts.push(text(legendX + 9, margin.top + 14, series.name, 'start', 11));
    legendX += 20 + series.name.length * 6.5;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export interface Bar {
  label: string;
  value: number;
  color?: string;
  /** Text after the bar; defaults to the value with the chart's unit. */
  note?: string;
}

export interface GoalLine {
  value: number;
  label: string;
}

export interface BarChartOptions {
  title: string;
  unit: string;
  bars: Bar[];
  goals?: GoalLine[];
  width?: number;
  /** Decimals of the value labels. @default 1 */
  digits?: number;
}

export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 720;
  const barH = 24;
  const gap = 10;
  const margin = { top: 58, right: 170, bottom: 40, left: 170 };
  const plotH = options.bars.length * (barH + gap) - gap;
  const height = margin.top + plotH + margin.bottom;
  const plotW = width - margin.left - margin.right;
  const goals = options.goals ?? [];
  const ticks = niceTicks(
    0,
    Math.max(...options.bars.map((b) => b.value), ...goals.map((g) => g.value)) * 1.05,
  );
  const xMax = ticks.at(-1)!;
  const sx = (x: number) => margin.left + (x / xMax) * plotW;
  const digits = options.digits ?? 1;

  const parts: string[] = [svgOpen(width, height), title(options.title, width)];
  for (const tick of ticks) {
    parts.push(line(sx(tick), margin.top, sx(tick), margin.top + plotH, GRID));
    parts.push(text(sx(tick), margin.top + plotH + 16, formatTick(tick), 'middle', 11));
  }
  parts.push(text(margin.left + plotW / 2, height - 8, options.unit, 'middle', 12));
  options.bars.forEach((bar, index) => {
    const y = margin.top + index * (barH + gap);
    const w = Math.max(1, sx(bar.value) - margin.left);
    parts.push(
      `<rect x="${margin.left}" y="${y}" width="${fmt(w)}" height="${barH}" fill="${bar.color ?? '#4c6ef5'}"/>`,
    );
    parts.push(text(margin.left - 8, y + barH / 2 + 4, bar.label, 'end', 12));
    const note = bar.note ?? `${bar.value.toFixed(digits)} ${options.unit.replace(/^.*\((.*)\)$/, '$1')}`;
    parts.push(text(margin.left + w + 6, y + barH / 2 + 4, note, 'start', 11));
  });
  for (const [index, goal] of goals.entries()) {
    const x = sx(goal.value);
    // Staggered, so that the labels of close goals stay readable.
    const labelY = margin.top - 10 - (index % 2) * 14;
    parts.push(
      `<line x1="${fmt(x)}" y1="${fmt(labelY + 4)}" x2="${fmt(x)}" y2="${margin.top + plotH + 4}" stroke="#c92a2a" stroke-width="1.5" stroke-dasharray="5 4"/>`,
    );
    parts.push(text(x, labelY, goal.label, 'middle', 11, '#c92a2a'));
  }
  parts.push(line(margin.left, margin.top, margin.left, margin.top + plotH, AXIS));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** 1-2-5 ticks from 0 covering `max`. */
export function niceTicks(min: number, max: number, target = 6): number[] {
  const span = max - min || 1;
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= target) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let tick = 0; tick < max + step * 0.999; tick += step) ticks.push(Number(tick.toPrecision(12)));
  if (ticks.length < 2) ticks.push(step);
  return ticks;
}

function svgOpen(width: number, height: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">\n<rect width="100%" height="100%" fill="#fff"/>`;
}

function title(value: string, width: number): string {
  return `<text ${FONT} x="${width / 2}" y="22" font-size="15" font-weight="600" fill="#222" text-anchor="middle">${escapeXml(value)}</text>`;
}

function axes(x: number, y: number, w: number, h: number): string {
  return `<path d="M${x} ${y}V${y + h}H${x + w}" fill="none" stroke="${AXIS}"/>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string): string {
  return `<line x1="${fmt(x1)}" y1="${fmt(y1)}" x2="${fmt(x2)}" y2="${fmt(y2)}" stroke="${stroke}"/>`;
}

function text(
  x: number,
  y: number,
  value: string,
  anchor: string,
  size: number,
  fill = AXIS,
  weight = 400,
): string {
  return `<text ${FONT} x="${fmt(x)}" y="${fmt(y)}" font-size="${size}" font-weight="${weight}" fill="${fill}" text-anchor="${anchor}">${escapeXml(value)}</text>`;
}

function formatTick(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(3)));
}

function fmt(value: number): string {
  return value.toFixed(1);
}

function escapeXml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
