// #/overview: counts, searches per day (stacked SVG bars drawn here) and the busiest locations.
// GET /stats/overview needs read_access_log; without it the page shows the counts other endpoints give.

import { api } from '../api.js';
import { h, s, can, formatNumber } from '../app.js';

const DAYS = 30;
const SERIES = [['match', 'Match'], ['ambiguous', 'Ambiguous'], ['unknown', 'Unknown'], ['no_face', 'No face']];
const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const longDayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', month: 'short', day: 'numeric' });

function stat(id, label, value) {
  return h('div', { class: 'card stat' }, h('span', { class: 'stat-label' }, label),
    h('strong', { id, class: 'stat-value' }, value));
}

/** "YYYY-MM-DD" is a calendar day already bucketed in the browser's offset: read it as a local date. */
function localDay(text) {
  const [year, month, day] = text.split('-').map(Number);
  return new Date(year, month - 1, day);
}

/** A round axis maximum (1, 2 or 5 × 10^k steps, four of them) at or above `max`. */
function axisScale(max) {
  const rough = Math.max(max, 4) / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough);
  return { step, top: Math.ceil(max / step) * step || step * 4 };
}

/** The legend in `columns` columns (four on one row, or two rows of two on a narrow chart). */
function legend(x, columns) {
  return s('g', { class: 'legend' }, SERIES.map(([key, label], index) => s('g',
    { transform: `translate(${x + (index % columns) * 110},${12 + Math.floor(index / columns) * 20})` },
    s('rect', { class: `seg-${key}`, width: 12, height: 12, rx: 2 }),
    s('text', { x: 18, y: 10 }, label))));
}

function barTitle(day, total) {
  const parts = SERIES.map(([key, label]) => `${day[key] || 0} ${label.toLowerCase()}`).join(', ');
  return `${longDayFormat.format(localDay(day.date))}: ${total} searches — ${parts}`;
}

/**
 * The chart is drawn for the width it gets (`available` CSS px, between 320 and 760 units), so that its text stays
 * about 12 px on a phone instead of being scaled down with a wide drawing.
 */
function searchesChart(days, available) {
  const width = Math.round(Math.min(760, Math.max(320, available || 760)));
  const narrow = width < 520;
  const height = narrow ? 300 : 320;
  const legendColumns = narrow ? 2 : 4;
  const margin = { top: narrow ? 64 : 44, right: narrow ? 24 : 12, bottom: 54, left: 56 }; // room for the last day's label
  const plotWidth = width - margin.left - margin.right, plotHeight = height - margin.top - margin.bottom;
  const totals = days.map((day) => SERIES.reduce((sum, [key]) => sum + (day[key] || 0), 0));
  const { step, top } = axisScale(Math.max(0, ...totals));
  const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;
  const slot = plotWidth / Math.max(days.length, 1);
  const labelEvery = Math.ceil(days.length / Math.max(2, Math.min(8, Math.floor(plotWidth / 80))));

  const grid = [];
  for (let value = 0; value <= top; value += step) {
    grid.push(s('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }),
      s('text', { class: 'tick', x: margin.left - 8, y: y(value) + 4, 'text-anchor': 'end' }, formatNumber(value)));
  }
  const bars = days.map((day, index) => {
    const x = margin.left + index * slot + slot * 0.15;
    let base = 0;
    const segments = SERIES.filter(([key]) => day[key] > 0).map(([key]) => {
      const rect = s('rect', { class: `seg-${key}`, x, width: slot * 0.7, y: y(base + day[key]), height: y(base) - y(base + day[key]) });
      base += day[key];
      return rect;
    });
    // A transparent full-height target so the hover title works on empty days too.
    const target = s('rect', { class: 'hit', x: margin.left + index * slot, width: slot, y: margin.top, height: plotHeight });
    return s('g', { class: 'bar' }, s('title', null, barTitle(day, totals[index])), target, segments);
  });
  // Every labelEvery-th day, counted back from the newest (today is always labelled).
  const labels = days.map((day, index) => (days.length - 1 - index) % labelEvery === 0
    && s('text', { class: 'tick', x: margin.left + (index + 0.5) * slot, y: height - margin.bottom + 18, 'text-anchor': 'middle' },
      dayFormat.format(localDay(day.date))));

  const total = totals.reduce((sum, value) => sum + value, 0);
  return s('svg', { id: 'chart-searches', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc' },
    s('title', { id: 'chart-title' }, `Searches per day, last ${days.length} days`),
    s('desc', { id: 'chart-desc' }, `${total} searches in total, stacked by decision: match, ambiguous, unknown, no face.`),
    legend(margin.left, legendColumns), grid,
    s('line', { class: 'axis', x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }),
    bars, labels,
    s('text', { class: 'axis-label', x: margin.left + plotWidth / 2, y: height - 8, 'text-anchor': 'middle' }, 'Day (your time zone)'),
    s('text', { class: 'axis-label', transform: `translate(16 ${margin.top + plotHeight / 2}) rotate(-90)`, 'text-anchor': 'middle' }, 'Searches'));
}

function locationList(locations) {
  const most = Math.max(1, ...locations.map((entry) => entry.count));
  const items = locations.map((entry) => {
    const meter = h('span', { class: 'meter-fill' });
    meter.style.width = `${(entry.count / most) * 100}%`;
    return h('li', null, h('span', { class: 'location-name' }, entry.location || '(no location)'),
      h('span', { class: 'location-count' }, formatNumber(entry.count)),
      h('span', { class: 'meter', 'aria-hidden': 'true' }, meter));
  });
  return h('ol', { id: 'busiest-locations', class: 'locations' }, items.length ? items : h('li', { class: 'muted' }, 'No searches in this period.'));
}

async function fullOverview(view) {
  const stats = await api.get('/stats/overview', { days: DAYS, utc_offset: -new Date().getTimezoneOffset() });
  const chart = h('div', { class: 'chart' });
  view.append(
    h('div', { class: 'stats' },
      stat('stat-persons', 'Persons', formatNumber(stats.persons)),
      stat('stat-faces', 'Faces', formatNumber(stats.faces)),
      stat('stat-devices', 'Kiosks', formatNumber(stats.devices)),
      stat('stat-searches-today', 'Searches today', formatNumber(stats.searches_today))),
    h('section', { class: 'card' }, h('h2', null, `Searches, last ${DAYS} days`), chart),
    h('section', { class: 'card' }, h('h2', null, 'Busiest locations'), locationList(stats.locations)));
  chart.append(searchesChart(stats.days, chart.clientWidth)); // drawn once its width is known
}

/** Counts a user without the access log can still read: persons (first 500), faces per model status, kiosks. */
async function limitedOverview(view) {
  const [persons, models, devices] = await Promise.all([
    can('read_persons') ? api.get('/persons', { limit: 500 }) : null,
    can('read_settings') ? api.get('/models/status') : null,
    can('read_devices') ? api.get('/devices') : null,
  ]);
  const model = models?.models?.find((entry) => entry.model === models.recognition_model) || models?.models?.[0];
  const personCount = persons && `${formatNumber(persons.persons.length)}${persons.next_cursor ? '+' : ''}`;
  view.append(
    h('div', { class: 'stats' },
      stat('stat-persons', 'Persons', personCount || '—'),
      stat('stat-faces', 'Faces', model ? formatNumber(model.faces_with_embedding + model.faces_without_embedding) : '—'),
      stat('stat-devices', 'Kiosks', devices ? formatNumber(devices.devices.length) : '—'),
      stat('stat-searches-today', 'Searches today', '—')),
    h('p', { class: 'notice' }, 'Search statistics and the busiest locations come from the access log, which only owners and admins can read.'));
}

export default async function render(view) {
  view.append(h('h1', null, 'Overview'));
  await (can('read_access_log') ? fullOverview(view) : limitedOverview(view));
}
