// #/register: POST /register creates the company and its owner; then the console signs in with the same
// email and password (the API token /register returns is not kept).

import { auth } from '../api.js';
import { h, field, authBrand, completeSignIn, errorText } from '../app.js';

export default async function render(view) {
  const company = h('input', { id: 'register-company', required: true, maxlength: '200', autocomplete: 'organization' });
  const name = h('input', { id: 'register-name', maxlength: '200', autocomplete: 'name' });
  const email = h('input', { id: 'register-email', type: 'email', required: true, autocomplete: 'username' });
  const password = h('input', { id: 'register-password', type: 'password', required: true, minlength: '10', maxlength: '72', autocomplete: 'new-password' });
  const error = h('p', { id: 'register-error', class: 'form-error', role: 'alert' });
  const form = h('form', { class: 'card narrow' },
    h('h1', null, 'Register a company'),
    field('Company name', company),
    field('Your name', name),
    field('Email', email),
    field('Password', password, 'At least 10 characters.'),
    error,
    h('button', { id: 'register-submit', type: 'submit' }, 'Create company'),
    h('p', null, 'Already registered? ', h('a', { href: '#/signin' }, 'Sign in')));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    form.querySelector('button').disabled = true;
    try {
      await auth.register({
        company_name: company.value.trim(), full_name: name.value.trim(), email: email.value.trim(), password: password.value,
      });
      completeSignIn(await auth.signIn(email.value.trim(), password.value));
    } catch (failure) {
      error.textContent = errorText(failure);
    } finally {
      form.querySelector('button').disabled = false;
    }
  });
  view.append(h('div', { class: 'auth-page' }, authBrand(), form));
  company.focus();
}
