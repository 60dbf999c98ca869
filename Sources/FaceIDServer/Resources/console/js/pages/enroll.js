// #/enroll[?person=<id>]: choose a person (existing or new), a photo (file or camera), check it with a dry run
// (face box, quality, duplicate guard, consent) and enroll it for real.

import { api } from '../api.js';
import {
  h, field, checkbox, isAdmin, personLink, onClick, whileLoading, errorText, formatDistance, clearError, showError,
} from '../app.js';
import { readPhoto, photoWithBoxes } from './identify.js';

const QUALITY_PROBLEMS = {
  no_face: 'No face was found. Use a clear, front-facing photo with even light.',
  multiple_faces: 'More than one face is in the photo. Crop it to one person, or tick "use the largest face".',
  face_too_small: 'The face is too small. Move closer, or use a larger photo.',
  face_cut_off: 'The face is cut off by the edge of the photo. Center the face with some space around it.',
  low_detector_score: 'The face is not clear enough (blurred, dark or turned away). Take a sharper, front-facing photo.',
  unsupported_format: 'Only JPEG and PNG photos are accepted.',
  empty_image: 'The file is empty.',
  corrupt_image: 'The file is damaged; it could not be read as a photo.',
  image_too_large: 'The photo is too large. Use a smaller one.',
  payload_too_large: 'The photo is too large. Use a smaller one.',
};

const QUALITY_LABELS = { size: ['Face size', ' px'], detector_score: ['Detector score', ''], border_margin: ['Space to the edge', ' px'], faces_in_image: ['Faces in the photo', ''] };

function qualityReport(answer) {
  const entries = Object.entries(answer.quality || {}).map(([key, value]) => {
    const [label, unit] = QUALITY_LABELS[key] || [key, ''];
    return [h('dt', null, label), h('dd', null, `${typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(2) : value}${unit}`)];
  });
  return [h('p', { class: 'status-ok' }, 'The photo passes the quality check.'), h('dl', { class: 'details' }, entries),
    answer.models && h('p', { class: 'muted' }, `Embeddings: ${answer.models.join(', ')}.`)];
}

/** Who the photo is for: the existing person's id, or a new person's name (`strict`: one of them is required). */
function personFields(inputs, strict) {
  const id = inputs.personId.value.trim();
  const name = inputs.newName.value.trim();
  if (id && name) throw new Error('Give either an existing person\'s id or a new person\'s name, not both.');
  if (id) return { person_id: Number(id) };
  if (name) return { full_name: name, external_id: inputs.newExternalId.value.trim() || undefined };
  if (strict) throw new Error('Choose an existing person, or give the new person\'s name.');
  return {};
}

function personChooser(inputs, query) {
  const chosen = h('p', { id: 'enroll-person-chosen', class: 'muted', 'aria-live': 'polite' });
  const search = h('input', { id: 'enroll-person-search', type: 'search', autocomplete: 'off' });
  const matches = h('ul', { class: 'plain matches' });
  const showChosen = async () => {
    const id = inputs.personId.value.trim();
    if (!id) { chosen.textContent = ''; return; }
    try {
      const { person } = await api.get(`/persons/${encodeURIComponent(id)}`);
      chosen.replaceChildren('Enrolling for ', personLink(person.id, person.full_name), '.');
    } catch (error) {
      chosen.textContent = error.status === 404 ? `No person has the id ${id}.` : errorText(error);
    }
  };
  let typing;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => findPersons(search.value.trim()).catch(showError), 300);
  });
  async function findPersons(term) {
    const found = term ? (await api.get('/persons', { name: term, limit: 8 })).persons : [];
    matches.replaceChildren(...found.map((person) => {
      const pick = h('button', { type: 'button', class: 'link' }, `${person.full_name} (#${person.id}${person.external_id ? `, ${person.external_id}` : ''})`);
      pick.addEventListener('click', () => {
        inputs.personId.value = person.id;
        inputs.personId.dispatchEvent(new Event('change'));
        matches.replaceChildren();
      });
      return h('li', null, pick);
    }));
  }
  inputs.personId.addEventListener('change', showChosen);
  inputs.personId.value = query.get('person') || '';
  return {
    ready: showChosen(),
    element: h('section', { class: 'card' }, h('h2', null, '1. Who is in the photo?'),
      h('div', { class: 'grid-2' },
        h('div', null, h('h3', null, 'An existing person'), field('Person id', inputs.personId), field('Find by name', search), matches, chosen),
        h('div', null, h('h3', null, 'Or a new person'), field('Full name', inputs.newName), field('External id', inputs.newExternalId, 'Optional.')))),
  };
}

/** The webcam: start streams into the video; capture() resolves a JPEG data URL of the current frame. */
function camera(video, onLeave) {
  let stream = null;
  const stop = () => {
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
  };
  onLeave(stop);
  return {
    get running() { return Boolean(stream); },
    async start() {
      if (!navigator.mediaDevices?.getUserMedia) throw new Error('This browser cannot use a camera here (the console must be opened over HTTPS).');
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: true });
      } catch (error) {
        throw new Error(error.name === 'NotAllowedError' ? 'Camera access was refused. Allow it in the browser to take a photo.' : 'No camera could be opened.');
      }
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
    },
    stop,
    async capture() {
      if (!video.videoWidth) await new Promise((resolve) => video.addEventListener('loadeddata', resolve, { once: true }));
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      return canvas.toDataURL('image/jpeg', 0.92);
    },
  };
}

export default async function render(view, { query, onLeave }) {
  const inputs = {
    personId: h('input', { id: 'enroll-person-id', type: 'number', min: '1', inputmode: 'numeric' }),
    newName: h('input', { id: 'enroll-new-name', maxlength: '200' }),
    newExternalId: h('input', { id: 'enroll-new-external-id', maxlength: '100' }),
  };
  const chooser = personChooser(inputs, query);
  const file = h('input', { id: 'enroll-file', type: 'file', accept: 'image/jpeg,image/png' });
  const video = h('video', { id: 'enroll-video', autoplay: true, muted: true, playsinline: true, hidden: true });
  const cameraButton = h('button', { id: 'enroll-camera', type: 'button', class: 'secondary' }, 'Use the camera');
  const captureButton = h('button', { id: 'enroll-capture', type: 'button', hidden: true }, 'Take photo');
  const largest = checkbox('enroll-largest', 'Several faces in the photo: use the largest');
  const reference = checkbox('enroll-reference', 'Mark as the person\'s reference photo');
  const preview = h('div', { id: 'enroll-preview' });
  const quality = h('div', { id: 'enroll-quality', 'aria-live': 'polite' });
  const duplicate = h('div', { id: 'enroll-duplicate', class: 'warning', hidden: true });
  const save = h('button', { id: 'enroll-save', type: 'button', 'data-write': true, disabled: true }, 'Enroll');
  const result = h('div', { id: 'enroll-result', 'aria-live': 'polite' });
  const webcam = camera(video, onLeave);
  let photo = null;
  let blocked = false; // the last check found a problem a real enrollment would hit too

  const override = () => document.getElementById('enroll-override');
  const updateSave = () => { save.disabled = !photo || (blocked && !override()?.checked); };

  function showDuplicate(error) {
    const body = error.body || {};
    const other = body.person_id ? personLink(body.person_id, body.full_name) : 'another person';
    duplicate.replaceChildren(h('p', null, 'Looks like ', other,
      ` (distance ${formatDistance(body.distance)}). This face may already be enrolled for that person.`));
    if (isAdmin()) {
      const box = checkbox('enroll-override', 'This is a different person: enroll anyway', { 'data-write': true });
      box.querySelector('input').addEventListener('change', updateSave);
      duplicate.append(box);
    }
    duplicate.hidden = false;
  }

  /** 409 consent_required: said in #error with the way out (the person's consent card), not as a raw error. */
  function showConsentRequired(error) {
    const personId = error.body?.person_id;
    const message = personId
      ? ['The company requires a recorded consent before storing a face, and ',
        h('a', { id: 'enroll-consent-link', href: `#/people/${personId}` }, `person #${personId}`),
        ' has none. Record it in the Consent card on their page, then check or enroll the photo again.']
      : ['The company requires a recorded consent before storing a face, and a new person cannot have one yet. '
        + 'Create the person on the ', h('a', { href: '#/people' }, 'People'),
        ' page, record their consent on their page, then enroll the photo for them.'];
    const element = document.getElementById('error');
    element.replaceChildren(...message);
    element.hidden = false;
    element.scrollIntoView({ block: 'nearest' });
    quality.replaceChildren(h('p', { class: 'form-error' }, 'This photo cannot be stored until the person\'s consent is recorded (see the message above).'));
  }

  function showProblem(error) {
    blocked = error.status === 422 || error.code === 'duplicate_face';
    if (error.code === 'consent_required') {
      showConsentRequired(error); // not blocked: once the consent is recorded, Enroll works without a new photo
    } else if (error.code === 'duplicate_face') {
      showDuplicate(error);
      quality.replaceChildren(h('p', { class: 'status-pending' }, 'The photo is fine, but the face resembles someone already enrolled.'));
    } else {
      quality.replaceChildren(h('p', { class: 'form-error' }, QUALITY_PROBLEMS[error.code] || errorText(error)),
        error.detail && QUALITY_PROBLEMS[error.code] ? h('p', { class: 'muted' }, error.detail) : null);
    }
  }

  function requestBody(strict) {
    const body = { image: photo, ...personFields(inputs, strict) };
    if (largest.querySelector('input').checked) body.select = 'largest';
    return body;
  }

  async function check() {
    if (!photo) return;
    duplicate.hidden = true;
    duplicate.replaceChildren();
    blocked = false;
    result.replaceChildren();
    clearError(); // e.g. an earlier consent_required for another person
    try {
      const body = requestBody(false);
      if (!body.person_id && !body.full_name) {
        // The server checks a photo for a person (the duplicate guard needs to know whose it is).
        quality.replaceChildren(h('p', { class: 'muted' }, 'Choose who is in the photo (step 1) to check it.'));
        return;
      }
      const answer = await api.post('/face/enroll', { ...body, dry_run: true });
      preview.replaceChildren(await photoWithBoxes('enroll-photo', photo, answer.box ? [answer.box] : [], false));
      quality.replaceChildren(...qualityReport(answer));
    } catch (error) {
      if (error.code !== 'session_expired') showProblem(error); // an expired session already went to sign-in
    } finally {
      updateSave();
    }
  }

  async function usePhoto(dataUrl) {
    photo = dataUrl;
    preview.replaceChildren(await photoWithBoxes('enroll-photo', photo, [], false));
    quality.replaceChildren(h('p', { class: 'muted' }, 'Checking the photo…'));
    await whileLoading(check);
  }

  file.addEventListener('change', () => file.files[0] && readPhoto(file.files[0]).then(usePhoto).catch((error) => {
    quality.replaceChildren(h('p', { class: 'form-error' }, errorText(error)));
  }));
  onClick(cameraButton, async () => {
    if (webcam.running) webcam.stop();
    else await webcam.start();
    captureButton.hidden = !webcam.running;
    cameraButton.textContent = webcam.running ? 'Stop the camera' : 'Use the camera';
  });
  onClick(captureButton, async () => usePhoto(await webcam.capture()));
  largest.querySelector('input').addEventListener('change', () => whileLoading(check));
  for (const input of Object.values(inputs)) input.addEventListener('change', () => whileLoading(check));

  async function enroll() {
    const body = { ...requestBody(true), reference: reference.querySelector('input').checked };
    if (override()?.checked) body.allow_duplicate = true;
    let answer;
    try {
      answer = await api.post('/face/enroll', body, { 'Idempotency-Key': crypto.randomUUID() });
    } catch (error) {
      if (error.status !== 422 && error.code !== 'duplicate_face' && error.code !== 'consent_required') throw error;
      showProblem(error);
      return;
    }
    result.replaceChildren(h('p', { class: 'status-ok' }, `Enrolled face #${answer.face_id} for `,
      personLink(answer.person.id, answer.person.full_name), '.'),
    h('p', { class: 'muted' }, 'Choose another photo to enroll more faces for the same person.'));
    // Further photos go to the same person, now an existing one.
    photo = null;
    file.value = '';
    inputs.newName.value = '';
    inputs.newExternalId.value = '';
    inputs.personId.value = answer.person.id;
    inputs.personId.dispatchEvent(new Event('change'));
  }
  // Not onClick(): whether the button is enabled afterwards depends on the photo, not on the click.
  save.addEventListener('click', async () => {
    clearError();
    save.disabled = true;
    try {
      await enroll();
    } catch (error) {
      showError(error);
    } finally {
      updateSave();
    }
  });

  await chooser.ready;
  view.append(h('h1', null, 'Enroll a face'), chooser.element,
    h('section', { class: 'card' }, h('h2', null, '2. The photo'),
      field('Photo file', file, 'JPEG or PNG with one face, front-facing, well lit.'),
      h('div', { class: 'actions' }, cameraButton, captureButton), video, largest, reference),
    h('section', { class: 'card' }, h('h2', null, '3. Check and enroll'), preview, quality, duplicate,
      h('div', { class: 'actions' }, save), result));
}
