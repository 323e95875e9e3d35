from django.urls import path

from apps.reviews.pages import workbench

urlpatterns = [
    path("review/", workbench, name="review-workbench"),
]
