// Progressive enhancement only: every page works without this file.
// Marks the page as able to run the NHS design system's scripts (what the design system's
// inline snippet does; our Content-Security-Policy allows no inline scripts), then starts
// its components: the header menu, error summaries taking focus, and so on.
import { initAll } from '/static/nhsuk/nhsuk-frontend.min.js';

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');
initAll();
