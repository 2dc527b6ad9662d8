"""The storefront's catalogue pages: the product list and a product's page."""
from django.http import Http404
from django.shortcuts import render

from shop.cart.forms import AddToCartForm

from . import selectors


def product_list(request):
    products = selectors.product_list_on_sale()
    return render(request, "catalogue/product_list.html", {"products": products})


def product_detail(request, slug: str):
    product = selectors.product_get_on_sale(slug=slug)
    if product is None:
        raise Http404("No such product on sale.")
    variants = list(selectors.product_variants(product=product))
    first_in_stock = next((variant for variant in variants if variant.in_stock), None)
    form = AddToCartForm(
        variants=variants, initial={"variant": first_in_stock.pk if first_in_stock else None}
    )
    return render(
        request,
        "catalogue/product_detail.html",
        {
            "product": product,
            "variants": variants,
            "form": form,
            "any_in_stock": first_in_stock is not None,
        },
    )
