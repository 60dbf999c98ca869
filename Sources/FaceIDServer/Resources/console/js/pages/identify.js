// #/identify: POST /face/search with a photo — every face numbered on the photo, and per face its decision,
// the threshold that made it and the ranked candidates. Exports readPhoto() and photoWithBoxes() for #/enroll.

import { api } from '../api.js';
import { h, s, field, badge, personLink, onSubmit, whileLoading, formatDistance } from '../app.js';

const PHOTO_TYPES = ['image/jpeg', 'image/png'];

/** A chosen file as a data URL (the API takes `image` as base64, a data: prefix included). */
export function readPhoto(file) {
  if (!PHOTO_TYPES.includes(file.type)) return Promise.reject(new Error('Choose a JPEG or PNG photo.'));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error('The file could not be read.'));
    reader.readAsDataURL(file);
  });
}

/** API boxes are {left, top, right, bottom}; also accepts {x, y, width, height}. */
function boxRect(box) {
  if ('left' in box) return { x: box.left, y: box.top, width: box.right - box.left, height: box.bottom - box.top };
  return box;
}

// Sample photos are often small (150 px): shown at least this wide, and at most this wide/high (CSS keeps them
// within the container as well). The overlay scales with the photo.
const PHOTO_MIN_WIDTH = 280, PHOTO_MAX_WIDTH = 480, PHOTO_MAX_HEIGHT = 560;
const TAG_FONT_PX = 15; // the face numbers' size on screen

/** The on-screen width (CSS px) of a photo of `width` x `height` pixels. */
function shownWidth(width, height) {
  const wanted = Math.min(PHOTO_MAX_WIDTH, Math.max(PHOTO_MIN_WIDTH, width));
  return Math.round(Math.max(PHOTO_MIN_WIDTH, Math.min(wanted, (PHOTO_MAX_HEIGHT * width) / height)));
}

/** The photo with an SVG overlay in the image's own pixel coordinates: a rectangle per box, numbered when asked. */
export async function photoWithBoxes(id, src, boxes, numbered) {
  const image = h('img', { src, alt: 'The photo sent to the server' });
  await image.decode().catch(() => {}); // natural size is needed for the overlay's coordinates
  const width = image.naturalWidth || 1, height = image.naturalHeight || 1;
  const shown = shownWidth(width, height);
  // The numbers are drawn in the photo's units: this size shows as about TAG_FONT_PX on screen.
  const fontSize = (TAG_FONT_PX * width) / shown;
  const overlay = s('svg', { class: 'overlay', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    boxes.map((box, index) => {
      const rect = boxRect(box);
      return s('g', null,
        s('rect', { class: 'face-box', x: rect.x, y: rect.y, width: rect.width, height: rect.height, 'vector-effect': 'non-scaling-stroke' }),
        numbered && s('rect', { class: 'face-tag', x: rect.x, y: Math.max(0, rect.y - fontSize * 1.3), width: fontSize * 1.4, height: fontSize * 1.3 }),
        numbered && s('text', { class: 'face-number', x: rect.x + fontSize * 0.7, y: Math.max(0, rect.y - fontSize * 1.3) + fontSize, 'font-size': fontSize, 'text-anchor': 'middle' }, String(index + 1)));
    }));
  const frame = h('div', { id, class: 'photo-frame' }, image, overlay);
  frame.style.width = `${shown}px`; // the image fills the frame (max-width: 100% in CSS); the overlay covers both
  return frame;
}

function thresholdText(threshold, model) {
  if (!threshold) return `Decided with the company's threshold (${model}).`;
  const source = threshold.preset === 'request' ? 'set by this request' : `preset ${threshold.preset}`;
  return `Threshold ${threshold.max_distance} / margin ${threshold.margin} (${source}, ${model}).`;
}

function candidateTable(candidates, model) {
  if (!candidates.length) return h('p', { class: 'muted' }, 'No enrolled person is close to this face.');
  const rows = candidates.map((candidate, index) => h('tr', { 'data-person-id': candidate.person.id },
    h('td', null, String(index + 1)),
    h('td', null, personLink(candidate.person.id, candidate.person.full_name)),
    h('td', null, formatDistance(candidate.distance)),
    h('td', null, `${(candidate.similarity * 100).toFixed(1)} %`),
    h('td', null, candidate.model === model ? candidate.model : `${candidate.model} (own model)`)));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'candidates' },
    h('thead', null, h('tr', null, ['Rank', 'Person', 'Distance', 'Similarity', 'Model'].map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', null, rows)));
}

function faceResult(face, index, answer) {
  return h('div', { class: 'face-result card', 'data-decision': face.decision, 'data-face': index + 1 },
    h('h3', null, `Face ${index + 1} `, badge(face.decision)),
    h('p', { class: 'muted' }, thresholdText(answer.threshold, answer.model)),
    candidateTable(face.candidates, answer.model));
}

async function results(photo, answer) {
  const faces = answer.faces || [];
  if (!faces.length) {
    return [h('div', { class: 'face-result card', 'data-decision': 'no_face' },
      h('h3', null, badge('no_face')), h('p', null, 'No face was found in this photo. Try a clearer, front-facing photo.'))];
  }
  const summary = faces.length === 1 ? 'One face found.' : `${faces.length} faces found, numbered on the photo.`;
  return [h('p', null, summary), await photoWithBoxes('identify-photo', photo, faces.map((face) => face.box), true),
    ...faces.map((face, index) => faceResult(face, index, answer))];
}

export default async function render(view) {
  const { groups } = await api.get('/groups').catch(() => ({ groups: [] })); // groups are a convenience here
  const file = h('input', { id: 'identify-file', type: 'file', accept: 'image/jpeg,image/png' });
  const group = h('select', { id: 'identify-group' }, h('option', { value: '' }, 'Everyone'),
    groups.map((entry) => h('option', { value: entry.name }, entry.name)));
  const place = h('input', { id: 'identify-location', maxlength: '200' });
  const output = h('div', { id: 'identify-results', 'aria-live': 'polite' });
  const form = h('form', { class: 'card' },
    h('div', { class: 'grid-3' }, field('Photo', file, 'JPEG or PNG. Searching starts when you choose it.'),
      field('Only this group', group), field('Location', place, 'Optional; written in the access log.')),
    h('button', { id: 'identify-submit', type: 'submit' }, 'Search'));

  async function search() {
    if (!file.files[0]) throw new Error('Choose a photo first.');
    const photo = await readPhoto(file.files[0]);
    output.replaceChildren(h('p', { class: 'muted' }, 'Searching…'));
    try {
      const answer = await api.post('/face/search', { image: photo, group: group.value || undefined, location: place.value.trim() || undefined });
      output.replaceChildren(...await results(photo, answer));
    } catch (error) {
      output.replaceChildren();
      throw error;
    }
  }
  onSubmit(form, () => whileLoading(search));
  file.addEventListener('change', () => file.files[0] && form.requestSubmit());
  view.append(h('h1', null, 'Identify'), form, output);
}
