// Live updates: listens to /api/v1/events and re-renders the page's main content from the
// server when something the user may see changes. Progressive enhancement only: without
// JavaScript the pages work by reloading. Nothing typed is ever thrown away: while a form on
// the page has been edited or has focus, a banner offers the update instead.
const TYPES = ['patient.created', 'patient.updated', 'patient.discharged', 'referral.created',
  'referral.decided', 'referral.updated', 'offer.created', 'offer.updated', 'note.created',
  'task.created', 'task.updated', 'resync'];

const main = document.getElementById('maincontent');
let dirty = false;
let timer = null;
let banner = null;

document.addEventListener('input', (e) => { if (e.target.closest('main form')) dirty = true; });

function busy() {
  const active = document.activeElement;
  return dirty || (active && active.closest && active.closest('main form') && active.matches('input, select, textarea'));
}

function showBanner() {
  if (banner) return;
  banner = document.createElement('div');
  banner.className = 'nhsuk-inset-text hw-live-banner';
  banner.setAttribute('role', 'status');
  banner.innerHTML = '<p>This page has changed since it was loaded. <a href="">Show the latest</a></p>';
  main.prepend(banner);
}

async function refresh() {
  if (busy()) { showBanner(); return; }
  try {
    const res = await fetch(window.location.href, { credentials: 'same-origin', headers: { 'X-Homeward-Live': '1' } });
    if (!res.ok || res.redirected) return;
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const fresh = doc.getElementById('maincontent');
    if (fresh && !busy()) {
      // keep the one-time message the user has not read yet, and every section the user
      // opened or closed (a filter panel stays as it was)
      const flash = main.querySelector('.hw-flash');
      const open = new Map();
      main.querySelectorAll('details').forEach((d, i) => open.set(d.id || `#${i}`, d.open));
      main.innerHTML = fresh.innerHTML;
      main.querySelectorAll('details').forEach((d, i) => {
        const was = open.get(d.id || `#${i}`);
        if (was !== undefined) d.open = was;
      });
      if (flash && !main.querySelector('.hw-flash')) main.prepend(flash);
      banner = null;
      document.dispatchEvent(new CustomEvent('homeward:updated'));
    }
  } catch (_) { /* the next event or a reload will catch up */ }
}

function concerns(data) {
  const only = main.dataset.patientId;
  return !only || !data.patient_id || String(data.patient_id) === only;
}

if (main && window.EventSource) {
  const source = new EventSource('/api/v1/events');
  const handle = (e) => {
    let data = {};
    try { data = JSON.parse(e.data); } catch (_) { /* resync */ }
    if (e.type !== 'resync' && !concerns(data)) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  };
  TYPES.forEach((t) => source.addEventListener(t, handle));
  // after a dropped connection EventSource reconnects by itself; re-read on reconnect
  let opened = false;
  source.addEventListener('ready', () => { if (opened) handle({ type: 'resync', data: '{}' }); opened = true; });
}
