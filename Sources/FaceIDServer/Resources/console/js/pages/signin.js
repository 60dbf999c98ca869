// #/signin: email and password → POST /console/session, then back to the page the user was on.

import { auth } from '../api.js';
import { h, field, authBrand, completeSignIn, takeSignInNotice } from '../app.js';

function signInMessage(error) {
  if (error.code === 'invalid_login') return 'Wrong email or password.';
  return error.message;
}

export default async function render(view) {
  const email = h('input', { id: 'signin-email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'signin-password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'signin-error', class: 'form-error', role: 'alert' });
  const notice = takeSignInNotice();
  const form = h('form', { id: 'signin-form', class: 'card narrow' },
    h('h1', null, 'Sign in'),
    h('p', { id: 'signin-notice', class: 'notice', hidden: !notice }, notice),
    field('Email', email),
    field('Password', password),
    error,
    h('button', { id: 'signin-submit', type: 'submit' }, 'Sign in'),
    h('p', null, 'New here? ', h('a', { id: 'register-link', href: '#/register' }, 'Register a company')));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    form.querySelector('button').disabled = true;
    try {
      completeSignIn(await auth.signIn(email.value.trim(), password.value));
    } catch (failure) {
      error.textContent = signInMessage(failure);
      password.select();
    } finally {
      form.querySelector('button').disabled = false;
    }
  });
  view.append(h('div', { class: 'auth-page' }, authBrand(), form));
  email.focus();
}
