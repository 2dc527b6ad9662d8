// Checkout: the email is kept with the cart as soon as it is typed, so a cart left at this
// step can be sent to Mailchimp (abandoned-cart emails). Nothing else on the page needs it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-cart-email-url]");
  const field = form && form.querySelector("input[name=email]");
  if (!field) return;
  let sent = "";
  const keep = () => {
    const email = field.value.trim();
    if (!email || email === sent || !field.checkValidity()) return;
    sent = email;
    const body = new FormData();
    body.append("email", email);
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    fetch(form.dataset.cartEmailUrl, { method: "POST", body, credentials: "same-origin" })
      .then((response) => { if (!response.ok) sent = ""; })
      .catch(() => { sent = ""; });  // the checkout POST records it anyway
  };
  field.addEventListener("change", keep);
  field.addEventListener("blur", keep);
  // Typed (or filled in by the browser) before this script ran: kept now.
  keep();
});
